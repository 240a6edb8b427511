// The CloudFormation JSON the template and its IAM policies are written in: intrinsic functions
// and the ARNs of the stack's own resources.
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export const ref = (name: string): Json => ({ Ref: name });
export const sub = (text: string): Json => ({ 'Fn::Sub': text });
export const getAtt = (resource: string, attribute: string): Json => ({ 'Fn::GetAtt': [resource, attribute] });

export const CLUSTER_ARN = sub('arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}');
export const TABLE_ARN = getAtt('Table', 'Arn');
export const STREAM_ARN = getAtt('Table', 'StreamArn');
