// Errors as ECS sends them: HTTP 400 (500 for ServerException) with a JSON body
// `{"__type":"<Type>","message":"..."}` and the same type in the `x-amzn-ErrorType` header.

export type EcsErrorType =
  | 'ClientException'
  | 'InvalidParameterException'
  | 'ClusterNotFoundException'
  | 'ClusterContainsContainerInstancesException'
  | 'ClusterContainsTasksException'
  | 'ThrottlingException'
  | 'ServerException'
  | 'TargetNotFoundException'
  | 'AttributeLimitExceededException'
  | 'ResourceNotFoundException'
  | 'LimitExceededException'
  | 'UnknownOperationException'
  | 'SerializationException'
  | 'AccessDeniedException'
  | (string & {});

export class EcsError extends Error {
  readonly type: EcsErrorType;
  readonly status: number;
  constructor(type: EcsErrorType, message: string, status?: number) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status ?? (type === 'ServerException' ? 500 : 400);
  }
  body(): { __type: string; message: string } {
    return { __type: this.type, message: this.message };
  }
}

export const invalidParameter = (message: string): EcsError => new EcsError('InvalidParameterException', message);
export const clientError = (message: string): EcsError => new EcsError('ClientException', message);
export const clusterNotFound = (): EcsError => new EcsError('ClusterNotFoundException', 'Cluster not found.');
