/**
 * `npm run dev:up` without the Pulumi CLI: applies the dev stack to the
 * local VPS with the test applier (same program, same scripts, real host).
 *   dev-apply.ts up|down <vps-name> <state-file>
 */
import { Applier } from "./applier";
import { devConfig, makeWorld } from "./world";

(async () => {
    const [verb, name, statePath] = process.argv.slice(2);
    const world = makeWorld(name);
    const applier = new Applier({ statePath, dnsApi: world.acme.dnsApi, log: (l) => process.stderr.write(`${l}\n`) });
    const cfg = devConfig(world);
    const r = verb === "down" ? await applier.destroy(cfg) : await applier.up(cfg);
    process.stderr.write(`dev ${verb}: ${r.ok ? "ok" : "FAILED"} in ${r.seconds.toFixed(1)}s, ${r.commands.length} remote commands\n`);
    if (!r.ok) {
        process.stderr.write(`${r.error}\n`);
        process.exit(1);
    }
})();
