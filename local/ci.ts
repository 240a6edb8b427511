// Whether this process runs under CI, for the test helpers that must fail rather than skip when a
// service or tool they need is missing there. CI systems set CI to 'true', '1' or their own name;
// anything but unset, empty, 'false' or '0' counts.
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.CI ?? '').trim().toLowerCase();
  return value !== '' && value !== 'false' && value !== '0';
}
