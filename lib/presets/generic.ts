/**
 * The generic preset: any program; berth runs `berth:buildCommand`,
 * `berth:releaseCommand` and `berth:webCommand` as written, nothing else.
 */
import type { Preset } from "./index";

export const generic: Preset = {
    name: "generic",
    packages: [],
    needsWebCommand: true,
    checkoutLines: () => [],
    buildSteps: () => [],
    buildRunArgs: [],
    releaseCommand: undefined,
    defaultEnv: {},
    ownedEnv: {},
    console: undefined,
    linkedDirs: ["log", "tmp", "storage"],
    webSocket: "proxy",
    // As written: with `activation` the program must take systemd's socket (LISTEN_FDS) itself.
    activatedWebCommand: (webCommand) => webCommand,
};
