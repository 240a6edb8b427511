// Since when each task of ours has been claimed by no environment. A timer starts when decide first
// reports a task unclaimed and ends (is forgotten) as soon as a judged step no longer reports it;
// a step that could not judge (stale desired state, tasks unseen) leaves every timer running.
export class OrphanTimers {
  private readonly since = new Map<string, number>();

  /** Returns the tasks whose timer just started. */
  update(unclaimed: readonly string[] | undefined, nowMono: number): string[] {
    if (unclaimed === undefined) return [];
    const current = new Set(unclaimed);
    for (const arn of this.since.keys()) if (!current.has(arn)) this.since.delete(arn);
    const started: string[] = [];
    for (const arn of current) {
      if (this.since.has(arn)) continue;
      this.since.set(arn, nowMono);
      started.push(arn);
    }
    return started;
  }

  view(): Record<string, number> {
    return Object.fromEntries(this.since);
  }
}
