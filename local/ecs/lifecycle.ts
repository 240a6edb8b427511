// The task lifecycle, ECS's state machine: PROVISIONING (StartTask/RunTask answer) -> PENDING (the
// runtime took it) -> RUNNING (its containers run) -> STOPPED, driven by the runtime's events and
// by stop requests. It owns what a task reserves on its instance from launch to STOPPED, and tells
// listeners of every change (like ECS's task state change events).
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { ContainerHealth, RuntimeEvent, TaskRuntime } from '../runtime/types.js';
import type { Requirement } from './placement.js';
import type { TaskOverride } from './shapes.js';
import type { ClusterState, EcsState, InstanceState, Json, TaskDefinitionState, TaskState } from './state.js';
import { containersOf, runtimeSpecOf, stopGraceSeconds } from './task-spec.js';
import type { Tag, TaskStateChange, TaskStopCode } from './types.js';
import { taskView } from './wire.js';

/** Dynamic host ports come from here up (Linux's default ephemeral range). */
export const EPHEMERAL_PORT_FIRST = 32768;
const EPHEMERAL_PORT_LAST = 60999;

export type Log = (level: 'info' | 'warn' | 'error', message: string, details?: Json) => void;
export type TaskChangeListener = (change: TaskStateChange) => void;

/** What a new task is: its definition and how the request started it. */
export interface TaskLaunch {
  definition: TaskDefinitionState;
  startedBy: string | undefined;
  group: string;
  tags: Tag[];
  overrides: TaskOverride;
}

export const newId = (): string => randomUUID().replace(/-/g, '');

function release(ports: Map<number, number>, port: number): void {
  const count = (ports.get(port) ?? 0) - 1;
  if (count <= 0) ports.delete(port);
  else ports.set(port, count);
}

export class TaskLifecycle {
  private readonly listeners = new Set<TaskChangeListener>();
  /** In-process observers of the live task (the service scheduler): no snapshot is taken for them. */
  private readonly observers = new Set<(task: TaskState, change: string) => void>();

  constructor(
    private readonly state: EcsState,
    private readonly runtime: TaskRuntime,
    private readonly clock: Clock,
    private readonly log: Log,
  ) {
    this.runtime.onEvent((event) => this.onRuntimeEvent(event));
  }

  onTaskChange(listener: TaskChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `observer` with the task itself on every change; it must not keep or mutate it beyond asking to stop it. */
  observe(observer: (task: TaskState, change: string) => void): void {
    this.observers.add(observer);
  }

  private changed(task: TaskState, change: string): void {
    task.version++;
    for (const observer of this.observers) observer(task, change);
    if (this.listeners.size === 0) return;
    const snapshot = taskView(task);
    for (const listener of this.listeners) {
      try {
        listener({ task: snapshot, change });
      } catch (error) {
        this.log('warn', 'task change listener failed', { error: String(error) });
      }
    }
  }

  /** Reserves `need` on `instance`, creates the task in PROVISIONING and hands it to the runtime. */
  launch(cluster: ClusterState, instance: InstanceState, need: Requirement, launch: TaskLaunch): TaskState {
    const { definition, overrides } = launch;
    const id = newId();
    const taskArn = this.state.taskArn(cluster.name, id);
    const now = this.clock.wallMs();
    instance.usedCpu += need.cpu;
    instance.usedMemory += need.memory;
    for (const port of need.ports) instance.usedPorts.set(port, (instance.usedPorts.get(port) ?? 0) + 1);
    for (const port of need.udpPorts) instance.usedUdpPorts.set(port, (instance.usedUdpPorts.get(port) ?? 0) + 1);
    const containers = containersOf(
      definition,
      overrides,
      () => this.state.containerArn(cluster.name, id, randomUUID()),
      () => this.ephemeralPort(instance),
    );
    const task: TaskState = {
      seq: this.state.nextSeq(),
      id,
      instance,
      cluster,
      overrides,
      hostPorts: need.ports,
      hostUdpPorts: need.udpPorts,
      stopRequested: false,
      taskArn,
      clusterArn: cluster.arn,
      clusterName: cluster.name,
      containerInstanceArn: instance.arn,
      ec2InstanceId: instance.ec2InstanceId,
      availabilityZone: instance.availabilityZone,
      taskDefinitionArn: definition.arn,
      family: definition.family,
      revision: definition.revision,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      healthStatus: 'UNKNOWN',
      startedBy: launch.startedBy,
      group: launch.group,
      cpu: need.cpu,
      memory: need.memory,
      createdAt: now,
      pullStartedAt: undefined,
      pullStoppedAt: undefined,
      startedAt: undefined,
      stoppingAt: undefined,
      stoppedAt: undefined,
      stopCode: undefined,
      stoppedReason: undefined,
      containers,
      tags: launch.tags,
      version: 0,
    };
    this.state.indexTask(task);
    this.changed(task, 'created');
    this.runtime.start(runtimeSpecOf(task, definition)).then(
      () => {
        if (task.lastStatus === 'PROVISIONING' && task.desiredStatus === 'RUNNING') {
          task.lastStatus = 'PENDING';
          task.pullStartedAt ??= this.clock.wallMs();
          this.changed(task, 'PENDING');
        }
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        this.log('warn', 'runtime could not start task', { taskArn, error: message });
        if (task.lastStatus === 'STOPPED') return;
        const reason = /^[A-Za-z]+Error:/.test(message) ? message : `CannotStartContainerError: ${message}`;
        this.beginStop(task, task.startedAt === undefined ? 'TaskFailedToStart' : 'EssentialContainerExited', reason);
        for (const container of task.containers) {
          if (container.lastStatus !== 'STOPPED') {
            container.lastStatus = 'STOPPED';
            container.reason ??= reason;
          }
        }
        this.finishStopped(task);
      },
    );
    return task;
  }

  private ephemeralPort(instance: InstanceState): number {
    for (let tries = 0; tries <= EPHEMERAL_PORT_LAST - EPHEMERAL_PORT_FIRST; tries++) {
      const port = instance.nextEphemeralPort;
      instance.nextEphemeralPort = port >= EPHEMERAL_PORT_LAST ? EPHEMERAL_PORT_FIRST : port + 1;
      if (!instance.usedPorts.has(port) && !instance.reservedPorts.includes(port)) return port;
    }
    return 0;
  }

  private onRuntimeEvent(event: RuntimeEvent): void {
    const task = this.state.tasksByArn.get(event.taskArn);
    if (!task || task.lastStatus === 'STOPPED') return;
    const container = task.containers.find((item) => item.name === event.containerName);
    if (!container) return;
    const now = this.clock.wallMs();
    switch (event.type) {
      case 'started': {
        if (container.lastStatus !== 'PENDING') return;
        container.lastStatus = 'RUNNING';
        container.runtimeId = event.runtimeId;
        task.pullStartedAt ??= now;
        if (task.lastStatus === 'PROVISIONING') task.lastStatus = 'PENDING';
        // Documented lifecycle: the task is RUNNING once its containers are.
        if (
          task.desiredStatus === 'RUNNING' &&
          task.containers.every((item) => item.lastStatus === 'RUNNING' || (!item.essential && item.lastStatus === 'STOPPED'))
        ) {
          task.lastStatus = 'RUNNING';
          task.pullStoppedAt ??= now;
          task.startedAt = now;
          this.updateHealth(task);
          this.changed(task, 'RUNNING');
        } else {
          this.changed(task, 'container');
        }
        return;
      }
      case 'health': {
        // Documented: without a healthCheck in the task definition a container reports UNKNOWN.
        if (!container.hasHealthCheck || container.lastStatus !== 'RUNNING') return;
        if (container.healthStatus === event.health) return;
        container.healthStatus = event.health;
        this.updateHealth(task);
        this.changed(task, 'health');
        return;
      }
      case 'exited': {
        if (container.lastStatus === 'STOPPED') return;
        const neverStarted = container.lastStatus === 'PENDING';
        container.lastStatus = 'STOPPED';
        // A container that never ran has no exit code in ECS, whatever the runtime says.
        container.exitCode = neverStarted ? undefined : event.exitCode;
        if (event.reason) container.reason = event.reason;
        else if (event.oomKilled) container.reason = 'OutOfMemoryError: Container killed due to memory usage';
        if (container.hasHealthCheck) container.healthStatus = 'UNKNOWN';
        if (task.desiredStatus === 'RUNNING') {
          if (neverStarted && container.essential && task.startedAt === undefined) {
            this.beginStop(task, 'TaskFailedToStart', container.reason ?? `Task failed to start: container ${container.name} did not start`);
          } else if (container.essential) {
            this.beginStop(task, 'EssentialContainerExited', 'Essential container in task exited');
          }
        }
        this.updateHealth(task);
        if (task.containers.every((item) => item.lastStatus === 'STOPPED')) this.finishStopped(task);
        else this.changed(task, 'container');
        return;
      }
    }
  }

  /**
   * Documented: task health is HEALTHY when all essential containers are; UNHEALTHY or UNKNOWN when
   * any essential container is. Modelled: containers without a health check are left out (they are
   * always UNKNOWN); with none at all the task is UNKNOWN.
   */
  private updateHealth(task: TaskState): void {
    const checked = task.containers.filter((container) => container.essential && container.hasHealthCheck);
    let health: ContainerHealth = 'UNKNOWN';
    if (checked.length > 0) {
      if (checked.some((container) => container.healthStatus === 'UNHEALTHY')) health = 'UNHEALTHY';
      else if (checked.every((container) => container.healthStatus === 'HEALTHY')) health = 'HEALTHY';
    }
    task.healthStatus = health;
  }

  /** Desired STOPPED: records why and asks the runtime to stop what still runs. */
  beginStop(task: TaskState, stopCode: TaskStopCode, reason: string): void {
    if (task.desiredStatus === 'STOPPED') return;
    task.desiredStatus = 'STOPPED';
    task.stopCode = stopCode;
    task.stoppedReason = reason;
    task.stoppingAt = this.clock.wallMs();
    this.changed(task, 'stopping');
    // The agent's default stop timeout (ECS_CONTAINER_STOP_TIMEOUT) unless containers set stopTimeout.
    this.runtime.stop(task.taskArn, stopGraceSeconds(this.state.taskDefinitionOf(task))).then(
      () => {
        // A runtime that reported no exit for some container: those are gone all the same.
        if (task.lastStatus === 'STOPPED') return;
        for (const container of task.containers) if (container.lastStatus !== 'STOPPED') container.lastStatus = 'STOPPED';
        this.finishStopped(task);
      },
      (error: unknown) => this.log('warn', 'runtime could not stop task', { taskArn: task.taskArn, error: String(error) }),
    );
  }

  /** STOPPED: releases what the task reserved and keeps it describable for the retention period. */
  private finishStopped(task: TaskState): void {
    if (task.lastStatus === 'STOPPED') return;
    const now = this.clock.wallMs();
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stoppingAt ??= now;
    task.stoppedAt = now;
    const instance = task.instance;
    instance.usedCpu -= task.cpu;
    instance.usedMemory -= task.memory;
    for (const port of task.hostPorts) release(instance.usedPorts, port);
    for (const port of task.hostUdpPorts) release(instance.usedUdpPorts, port);
    this.state.retainStopped(task);
    this.changed(task, 'STOPPED');
  }

  /** The host vanished: the task is STOPPED at once with `reason` and no stop code. */
  lostWithHost(task: TaskState, reason: string): void {
    if (task.lastStatus === 'STOPPED') return;
    task.desiredStatus = 'STOPPED';
    task.stoppingAt ??= this.clock.wallMs();
    task.stoppedReason = reason;
    for (const container of task.containers) if (container.lastStatus !== 'STOPPED') container.lastStatus = 'STOPPED';
    this.finishStopped(task);
  }
}
