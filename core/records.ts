// The records of the contract, their defaults, and their validation. Every reader parses what it
// loads from DynamoDB through these functions: a record written by hand that breaks the contract
// becomes an InvalidRecordError naming the record and the field, and harms nothing else.
export * from './records/environment.js';
export * from './records/instance.js';
export * from './records/claim.js';
export * from './records/rollout.js';
export * from './records/repair.js';
