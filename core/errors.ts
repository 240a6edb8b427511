// Errors that know how they should be reported: an HTTP status for the API, an exit code for the
// CLI, and the field or record they are about. Every layer throws these; nothing guesses later.

export type ErrorCode = 'InvalidInput' | 'InvalidRecord' | 'NotFound' | 'Conflict' | 'PayloadTooLarge' | 'Unauthorized' | 'Unavailable' | 'Internal';

const httpStatusOf: Record<ErrorCode, number> = {
  InvalidInput: 400,
  InvalidRecord: 422,
  NotFound: 404,
  Conflict: 409,
  PayloadTooLarge: 413,
  Unauthorized: 401,
  Unavailable: 503,
  Internal: 500,
};

export class BloxError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'BloxError';
    this.code = code;
    this.field = field;
  }
  get httpStatus(): number {
    return httpStatusOf[this.code];
  }
  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, field: this.field };
  }
}

/** Input that fails validation; `field` is a dotted path such as `instanceGroup.expression`. */
export class InvalidInputError extends BloxError {
  constructor(field: string, message: string) {
    super('InvalidInput', `${field}: ${message}`, field);
    this.name = 'InvalidInputError';
  }
}

/** A stored record that does not match the contract (for example written by hand into DynamoDB). */
export class InvalidRecordError extends BloxError {
  readonly record: string;
  constructor(record: string, field: string, message: string) {
    super('InvalidRecord', `record ${record}: field ${field}: ${message}`, field);
    this.name = 'InvalidRecordError';
    this.record = record;
  }
}

export class NotFoundError extends BloxError {
  constructor(message: string) {
    super('NotFound', message);
    this.name = 'NotFoundError';
  }
}

/** A lost conditional write; `current` carries the item that won, when DynamoDB returned it. */
export class ConflictError<T = unknown> extends BloxError {
  readonly current: T | undefined;
  constructor(message: string, current?: T, field?: string) {
    super('Conflict', message, field);
    this.name = 'ConflictError';
    this.current = current;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
