// Replaced at bundle time by esbuild's `define`; tsx and vitest runs see the fallbacks.
declare const BLOX_VERSION: string | undefined;
declare const BLOX_COMMIT: string | undefined;

export const version: string = typeof BLOX_VERSION === 'string' ? BLOX_VERSION : '0.0.0-dev';
export const commit: string = typeof BLOX_COMMIT === 'string' ? BLOX_COMMIT : 'dev';
