/**
 * What `pulumi preview --diff` would show: the program runs under mocks with
 * two configurations and the registered inputs are compared resource by
 * resource. Only the resources that really change may differ. Also the
 * dependency order the engine will enforce.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { configFor, isSecretWrapped, localRemote, Recorded, RunResult, runProgram, stackConfig, unwrap } from "./harness";
import { switchScript } from "../../components/switch";

function changed(a: RunResult, b: RunResult): string[] {
    const before = new Map(a.resources.map((r) => [`${r.type}::${r.name}`, r]));
    const out: string[] = [];
    for (const r of b.resources) {
        const prev = before.get(`${r.type}::${r.name}`);
        if (!prev) out.push(`+${r.name}`);
        else if (JSON.stringify(prev.inputs) !== JSON.stringify(r.inputs)) out.push(r.name);
    }
    for (const r of a.resources) if (!b.resources.some((x) => x.type === r.type && x.name === r.name)) out.push(`-${r.name}`);
    return out.sort();
}

async function run(stack: string, overrides: Record<string, unknown> = {}): Promise<RunResult> {
    const r = await runProgram(stackConfig(stack, overrides));
    assert.equal(r.error, undefined, r.error?.message);
    return r;
}

describe("preview --diff: only what really changes", () => {
    let base: RunResult;
    before(async () => {
        base = await run("staging");
    });

    test("no change: identical inputs everywhere (a no-op up)", async () => {
        assert.deepEqual(changed(base, await run("staging")), []);
    });

    test("a moved branch: checkout, release command and switch", async () => {
        const remote = localRemote(stackConfig("staging").values["berth:repository"]);
        const old = remote.sha();
        const moved = remote.commit("a new feature");
        try {
            const after = await run("staging");
            assert.deepEqual(changed(base, after), ["shop-staging-release-checkout", "shop-staging-release-release-command", "shop-staging-switch-switch"].sort());
            const checkout = after.resources.find((r) => r.name === "shop-staging-release-checkout")!;
            assert.equal(unwrap(checkout.inputs.triggers)[0].revision, moved);
            assert.notEqual(moved, old);
        } finally {
            base = await run("staging");
        }
    });

    test("one environment variable: the env file (masked) and the switch that restarts the app", async () => {
        const env = JSON.parse(stackConfig("staging").values["berth:env"]);
        const after = await run("staging", { "berth:env": { ...env, FEATURE_X: "on" } });
        assert.deepEqual(changed(base, after), ["shop-staging-switch-switch", "shop-staging-units-env-file"]);
        const envFile = after.resources.find((r) => r.name === "shop-staging-units-env-file")!;
        assert.ok(isSecretWrapped(envFile.inputs.stdin), "the env file content shows as [secret]");
    });

    test("nginx settings: only the HTTPS site", async () => {
        const after = await run("staging", { "berth:nginx": { clientMaxBodySize: "50m", proxyTimeout: 120 } });
        assert.deepEqual(changed(base, after), ["shop-staging-site-https-https"]);
    });

    test("the package list: only the packages step", async () => {
        const after = await run("staging", { "berth:packages": ["libvips42", "imagemagick"] });
        assert.deepEqual(changed(base, after), ["shop-staging-host-packages"]);
    });

    test("a secret value: only what uses it, shown masked", async () => {
        const sc = stackConfig("staging");
        sc.values["berth:secretEnv"] = JSON.stringify({ STRIPE_API_KEY: "tsecret-rotated-value-123" });
        const after = await runProgram(sc);
        assert.deepEqual(changed(base, after), ["shop-staging-switch-switch", "shop-staging-units-env-file"]);
    });
});

describe("dependency order", () => {
    let r: RunResult;
    before(async () => {
        r = await run("staging");
    });
    function deps(name: string): Set<string> {
        const byName = new Map(r.resources.map((x) => [x.name, x]));
        const seen = new Set<string>();
        const walk = (n: string) => {
            for (const d of byName.get(n)?.dependsOn ?? []) {
                if (!seen.has(d)) {
                    seen.add(d);
                    walk(d);
                }
            }
        };
        walk(name);
        return seen;
    }
    const find = (suffix: string): Recorded => r.resources.find((x) => x.name.endsWith(suffix))!;

    test("the role exists before the release command (db:prepare) runs", () => {
        assert.ok(deps(find("-release-command").name).has(find("-postgres-role-role").name));
    });
    test("the env file and the build come before the release command", () => {
        const d = deps(find("-release-command").name);
        assert.ok(d.has(find("-units-env-file").name) && d.has(find("-release-checkout").name));
    });
    test("DNS and the challenge site before the certificate, the certificate before the HTTPS site", () => {
        const cert = deps(find("-certificate-certbot").name);
        assert.ok(cert.has(find("-site-http-http").name));
        assert.ok(r.resources.filter((x) => x.type === "cloudflare:index/dnsRecord:DnsRecord").every((x) => cert.has(x.name)));
        assert.ok(deps(find("-site-https-https").name).has(find("-certificate-certbot").name));
    });
    test("the switch comes after the release command, the units and the HTTPS site", () => {
        const d = deps(find("-switch-switch").name);
        for (const s of ["-release-command", "-units-units", "-units-env-file", "-site-https-https"]) assert.ok(d.has(find(s).name), s);
    });
    test("inside the switch, traffic moves only after the health check passed", () => {
        const s = switchScript(configFor("staging"), { sha: "a".repeat(40), envHash: "e".repeat(64), unitsHash: "u".repeat(64) });
        const health = s.indexOf('if [ "$healthy" != 1 ]; then');
        assert.ok(health > 0);
        for (const later of ["nginx -t", "systemctl reload nginx", "/current.berth-new", "systemctl enable --quiet \"$idle_unit\""]) {
            assert.ok(s.indexOf(later) > health, `${later} after the health check`);
        }
        assert.ok(s.indexOf("systemctl start \"$idle_unit\"") < health);
    });
});
