/**
 * The applier's state file as stored: its resources with their secrets
 * still encrypted (engine.ts `readState` decrypts them). No Pulumi SDK here,
 * so a reader that needs only plain inputs (the Docker providers' `host` for
 * cli/support/source.ts `movedDataHost`) does not load the engine.
 */
import * as fs from "node:fs";

export interface StoredResource {
    urn: string;
    type: string;
    name: string;
    custom: boolean;
    parent?: string;
    /** Inputs as the program registered them (secret markers kept; encrypted on disk). */
    inputs: any;
    outputs: any;
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    /** URNs this resource depends on (dependsOn, parent, provider). */
    dependencies: string[];
    /** The provider's URN (custom resources with an explicit provider). */
    provider?: string;
    /** Registration order of the run that last wrote it (a topological order). */
    order: number;
    /** An old, replaced resource (or one whose delete failed) waiting for deletion: the engine's `delete: true`. */
    pendingDelete?: boolean;
    /** The last create/update returned state with an error (partial create). */
    initErrors?: string[];
}

export interface StateFile {
    version: 2;
    resources: StoredResource[];
}

/** The stored state (an empty one when the file does not exist yet). */
export function readStoredState(file: string): StateFile {
    if (!fs.existsSync(file)) return { version: 2, resources: [] };
    const raw = JSON.parse(fs.readFileSync(file, "utf8"));
    if (raw.version !== 2) throw new Error(`${file}: not an applier state of version 2 (delete it and the VPS to start over)`);
    return raw as StateFile;
}
