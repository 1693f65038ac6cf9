/**
 * `npm run dev:up` without the Pulumi CLI: applies the dev stack to the
 * local VPS with the test applier (same program, same scripts, real host).
 *   dev-apply.ts up|down <vps-name> <state-file>
 */
import { Applier } from "./applier";
import { devConfig, devStackFile, E2E_WORLD, makeWorld } from "./world";

(async () => {
    const [verb, name, statePath] = process.argv.slice(2);
    // The dev stack's own names (scripts/dev.sh sets BERTH_E2E_INSTANCE=dev):
    // its domain from Pulumi.dev.yaml, its own services and repository, none
    // of them the e2e suite's.
    const services = process.env.BERTH_E2E_INSTANCE ?? "dev";
    const domain = String(devStackFile()["berth:domain"]);
    if (services === E2E_WORLD.services || domain === E2E_WORLD.domain || name === E2E_WORLD.vpsName) {
        throw new Error(`dev-apply: ${services}/${domain}/${name} would share the e2e suite's world`);
    }
    const world = makeWorld(name, { services, domain, prodDomain: `prod.${domain}`, repo: "sample", keepDns: true });
    const applier = new Applier({ statePath, dnsApi: world.acme.dnsApi, log: (l) => process.stderr.write(`${l}\n`) });
    const cfg = devConfig(world);
    const r = verb === "down" ? await applier.destroy(cfg) : await applier.up(cfg);
    process.stderr.write(`dev ${verb}: ${r.ok ? "ok" : "FAILED"} in ${r.seconds.toFixed(1)}s, ${r.commands.length} remote commands\n`);
    if (!r.ok) {
        process.stderr.write(`${r.error}\n`);
        process.exit(1);
    }
})();
