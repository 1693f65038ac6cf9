/**
 * Named port slots: the loopback (or private-address) port each of a stack's
 * container services is published on, by name.
 *
 * - `postgres` and `redis` keep the ports of the stack's packed block
 *   (lib/names.ts derivePorts: 20000-27999, four ports per stack: postgres,
 *   redis, web blue, web green), so no existing stack's container moves.
 * - Any other name (an accessory) gets a port derived from the stack's id and
 *   its own name only, in `NAMED_PORT_RANGE` (28000-32767: above every
 *   derived block, below Linux's ephemeral ports 32768-60999, where an
 *   outgoing connection could hold the port when the container starts).
 *   Adding or removing an accessory never moves another's port.
 * - An explicit port (`berth:postgres.port`, an accessory's `hostPort`)
 *   wins. Two names on one port, or a name on a web instance's port, is a
 *   collision, reported naming both (the fix: set one's port by hand).
 */
import { derivePorts, fnv1a } from "./names";

/** Ports derived for names other than postgres and redis: first..last, inclusive. */
/** The ports Postgres and Redis listen on inside their containers (components/data/dataServices.ts). */
export const CONTAINER_PORTS = { postgres: 5432, redis: 6379 } as const;
export const DATA_CONTAINER_PORTS: readonly number[] = [CONTAINER_PORTS.postgres, CONTAINER_PORTS.redis];

export const NAMED_PORT_RANGE = { first: 28000, last: 32767 } as const;

export interface PortSlotsInput {
    readonly app: string;
    readonly stack: string;
    /** `berth:portBase` (undefined or 0: derived from app + stack). */
    readonly portBase?: number;
    /** Ports set by hand, by name (`postgres`: `berth:postgres.port`, an accessory: its `hostPort`). */
    readonly fixed?: Readonly<Record<string, number | undefined>>;
}

export interface Collision {
    /** The two names (a web instance is `web blue` / `web green`). */
    readonly names: readonly [string, string];
    readonly port: number;
}

export interface PortSlots {
    /** Name -> port, for every name asked for. */
    readonly ports: Readonly<Record<string, number>>;
    readonly collisions: readonly Collision[];
}

/** The derived port of `name` in a stack (`<app>-<stack>`), from the two names alone. */
export function namedPort(id: string, name: string): number {
    const size = NAMED_PORT_RANGE.last - NAMED_PORT_RANGE.first + 1;
    return NAMED_PORT_RANGE.first + (fnv1a(`port:${id}:${name}`) % size);
}

/** The port of every name in `names` (see the file's comment), with every collision among them and the web instances. */
export function portSlots(input: PortSlotsInput, names: readonly string[]): PortSlots {
    const block = derivePorts(input.app, input.stack, { base: input.portBase || undefined });
    const id = `${input.app}-${input.stack}`;
    const ports: Record<string, number> = {};
    for (const name of names) {
        const derived = name === "postgres" ? block.postgres : name === "redis" ? block.redis : namedPort(id, name);
        ports[name] = input.fixed?.[name] ?? derived;
    }
    const holder = new Map<number, string>([
        [block.webBlue, "web blue"],
        [block.webGreen, "web green"],
    ]);
    const collisions: Collision[] = [];
    for (const name of names) {
        const other = holder.get(ports[name]);
        if (other !== undefined) collisions.push({ names: [other, name], port: ports[name] });
        else holder.set(ports[name], name);
    }
    return { ports, collisions };
}
