// Connection settings the agent's SDK clients (DynamoDB, ECS) share.

export interface SdkClientOptions {
  region: string;
  /** A local emulator's URL; without it the SDK resolves the regional endpoint. */
  endpoint?: string;
  /** Without them the SDK's default chain (the instance role) applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Per-request timeout, so an unreachable service never stalls the loop for long. */
  requestTimeoutMs?: number;
}

/** Client config: region, a bounded request (connecting within 2 s at most), endpoint and credentials when given. */
export function sdkClientConfig(options: SdkClientOptions, defaultRequestTimeoutMs: number) {
  const timeout = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  return {
    region: options.region,
    requestHandler: { connectionTimeout: Math.min(timeout, 2_000), requestTimeout: timeout, throwOnRequestTimeout: true },
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
}
