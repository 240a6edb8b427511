// Which tasks the slow ECS sweep describes. ListTasks names every task ECS places on this instance;
// DescribeTasks is needed only where ECS is the sole source of what the agent wants to know. A
// task's group, startedBy and tags never change, so a catalogued task is described again only when
// its status or health cannot be had locally (the ECS agent's /v1/tasks, the Docker view).

export interface CataloguedTask {
  lastStatus: string;
  /** Started by blox-edge (its health counts for readiness). */
  ours: boolean;
}

export interface SweepInput {
  /** ARNs ListTasks returned for this instance. */
  listed: readonly string[];
  catalog: ReadonlyMap<string, CataloguedTask>;
  /** The ECS agent's /v1/tasks answered in this step: it gives every local task's status. */
  localStatus: boolean;
  /** The Docker view answered the last health query: it gives our tasks' health. */
  localHealth: boolean;
}

export function tasksToDescribe({ listed, catalog, localStatus, localHealth }: SweepInput): string[] {
  const listedSet = new Set(listed);
  const describe = listed.filter((arn) => {
    const known = catalog.get(arn);
    if (!known) return true; // never seen: which environment, if any, is it?
    if (!localStatus) return true; // ECS is the only source of its status
    return known.ours && !localHealth; // ECS is the only source of its health
  });
  // Catalogued as live but no longer listed: it stopped (or moved); learn how, once.
  for (const [arn, known] of catalog) if (known.lastStatus !== 'STOPPED' && !listedSet.has(arn)) describe.push(arn);
  return describe;
}
