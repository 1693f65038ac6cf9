/**
 * Presets: what a kind of app needs from berth, behind one interface. The
 * rest of berth asks `presetOf(cfg)` and never compares preset names.
 *
 * Adding a preset: one new file here (a `Preset`), one line in `PRESETS`,
 * and its name in the `berth:preset` enum (lib/config/keys.ts).
 */
import type { BerthConfig } from "../config";
import type { Names } from "../names";
import type { Arg, Lines } from "../shell";
import { generic } from "./generic";
import { rails } from "./rails";

/** What a preset's builders read of the configuration. */
export type PresetScope = { readonly names: Names; readonly release: Pick<BerthConfig["release"], "bundler" | "webSocket"> };

export interface Preset {
    /** The `berth:preset` value. */
    readonly name: string;
    /** Logical packages (lib/os.ts) app hosts get for the preset's toolchain, on top of the base packages. */
    readonly packages: readonly string[];
    /** `berth:webCommand` must be set (the preset has no default web command). */
    readonly needsWebCommand: boolean;
    /** Root, in the extracted release `dir`, before anything is built: checks and toolchain set-up. */
    checkoutLines(cfg: PresetScope, dir: string, sha: string): Lines;
    /** Build steps (app user, release directory), before `berth:buildCommand`. */
    buildSteps(cfg: PresetScope): string[];
    /**
     * Extra `systemd-run` arguments of the build (values `checkoutLines`
     * computed); when set, the build body expands the app's own variables
     * (a shellcheck SC2016 directive precedes it).
     */
    readonly buildRunArgs: readonly Arg[];
    /** The release command when `berth:releaseCommand` is unset (undefined: none). */
    readonly releaseCommand?: string;
    /** Env-file defaults (`berth:env` may override them): the units, the build and the release command read them. */
    readonly defaultEnv: Readonly<Record<string, string>>;
    /** Env-file variables berth owns (reserved: the config validator refuses them from the user). */
    readonly ownedEnv: Readonly<Record<string, string>>;
    /** `berth console`'s command (bash; undefined: a shell). */
    readonly console?: string;
    /** Directories of shared/ linked into every release (Capistrano's linked_dirs). */
    readonly linkedDirs: readonly string[];
    /**
     * `berth:webSocket` when unset (lib/units/webSocket.ts), for a web
     * command that can take systemd's socket (`activatedWebCommand`); any
     * other command gets the proxy (`defaultWebSocket`).
     */
    readonly webSocket: "proxy" | "activation";
    /**
     * The web command that takes the instance's socket from systemd
     * (`berth:webSocket: activation`, LISTEN_FDS), made from
     * `berth:webCommand`; undefined when that command cannot.
     */
    activatedWebCommand(webCommand: string): string | undefined;
}

/** Every preset, by `berth:preset` value. */
export const PRESETS = { rails, generic } as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

/** The stack's preset. */
export function presetOf(cfg: { readonly release: { readonly preset: PresetName } }): Preset {
    return PRESETS[cfg.release.preset];
}

/**
 * `berth:webSocket` when unset: the preset's mode when the web command can
 * take systemd's socket itself (Rails: Puma's own CLI, the default command),
 * else the proxy, which any app listening on 127.0.0.1:$PORT works behind
 * (`bin/rails server`, a TCP-only binary).
 */
export function defaultWebSocket(preset: Preset, webCommand: string): "proxy" | "activation" {
    return preset.webSocket === "activation" && preset.activatedWebCommand(webCommand) !== undefined ? "activation" : "proxy";
}
