/** Ends a chain without counting as an error: the reason is known and already reported. */
export class AbortChain extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AbortChain';
  }
}
