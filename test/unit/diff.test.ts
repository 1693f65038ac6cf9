/**
 * What `pulumi preview --diff` would show: the program runs under mocks with
 * two configurations and the registered inputs are compared resource by
 * resource. Only the resources that really change may differ. Also the
 * dependency order the engine will enforce.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { configFor, isSecretWrapped, localRemote, Recorded, RunResult, runProgram, stackConfig, unwrap } from "./harness";
import { switchScript } from "../../components/app/switch";
import { pinnedSha, resolveRevision, REVISION_SHA_ENV } from "../../lib/revision";

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

describe("BERTH_REVISION_SHA: preview and up deploy the same commit", () => {
    const checkoutSha = (r: RunResult) => unwrap(r.resources.find((x) => x.name === "shop-staging-release-checkout")!.inputs.triggers)[0].revision;
    async function withPinned<T>(sha: string | undefined, f: () => Promise<T>): Promise<T> {
        const saved = process.env[REVISION_SHA_ENV];
        if (sha === undefined) delete process.env[REVISION_SHA_ENV];
        else process.env[REVISION_SHA_ENV] = sha;
        try {
            return await f();
        } finally {
            if (saved === undefined) delete process.env[REVISION_SHA_ENV];
            else process.env[REVISION_SHA_ENV] = saved;
        }
    }

    test("a branch moving between preview and up changes nothing when the sha was resolved once", async () => {
        const remote = localRemote(stackConfig("staging").values["berth:repository"]);
        const resolved = remote.sha();
        const preview = await withPinned(resolved, () => runProgram(stackConfig("staging"), { preview: true }));
        assert.equal(preview.error, undefined, preview.error?.message);
        const moved = remote.commit("pushed between preview and up");
        const up = await withPinned(resolved, () => run("staging"));
        assert.equal(checkoutSha(preview), resolved);
        assert.equal(checkoutSha(up), resolved, "the up deploys what the preview showed, not the moved branch");
        assert.deepEqual(changed(preview, up), []);
        assert.equal(up.outputs.revision, resolved);
        // Without the override the program follows the branch (what a new resolution would do).
        const unpinned = await withPinned(undefined, () => run("staging"));
        assert.equal(checkoutSha(unpinned), moved);
    });

    test("no network: the configured ref is not looked up", () => {
        const sha = "b".repeat(40);
        const r = resolveRevision(configFor("staging"), () => assert.fail("ls-remote must not run"), { [REVISION_SHA_ENV]: sha });
        assert.deepEqual(r, { ref: "main", sha });
    });

    test("empty means unset; a malformed value or one contradicting a configured sha fails clearly", async () => {
        assert.equal(pinnedSha("main", { [REVISION_SHA_ENV]: "" }), undefined);
        assert.equal(pinnedSha("main", {}), undefined);
        for (const bad of ["abc123", "A".repeat(40), "g".repeat(40), `${"a".repeat(40)}0`]) {
            assert.throws(() => pinnedSha("main", { [REVISION_SHA_ENV]: bad }), /BERTH_REVISION_SHA: ".*" is not a full commit sha \(40 lowercase hex characters\)/, bad);
        }
        const configured = "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8";
        assert.equal(pinnedSha(configured, { [REVISION_SHA_ENV]: configured }), configured);
        assert.throws(
            () => pinnedSha(configured, { [REVISION_SHA_ENV]: "c".repeat(40) }),
            new RegExp(`berth:revision is the commit ${configured} but BERTH_REVISION_SHA is ${"c".repeat(40)}`),
        );
        // Through the program: production's configured sha against a different pinned one.
        const r = await withPinned("c".repeat(40), () => runProgram(stackConfig("production")));
        assert.match(r.error?.message ?? "", /berth:revision is the commit aa2102cc.* but BERTH_REVISION_SHA is c{40}/);
        assert.equal(r.resources.length, 0, "nothing registered");
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
        // Traffic moves by renaming the socket symlink nginx connects through (no reload on a switch).
        for (const later of ["mv -T /srv/berth/shop-staging/web.sock.berth-new", "/current.berth-new", "systemctl enable --quiet --no-reload \"$idle_unit\""]) {
            assert.ok(s.indexOf(later) > health, `${later} after the health check`);
        }
        // nginx is reloaded only once, when the upstream file itself changed (a host switched by an
        // older berth), and only after the socket symlink is in place.
        const reloads = s.split("systemctl reload nginx").length - 1;
        assert.equal(reloads, 1);
        const reload = s.indexOf("systemctl reload nginx");
        assert.ok(reload > s.indexOf("mv -T /srv/berth/shop-staging/web.sock.berth-new"), "the migration reload comes after the swap");
        assert.match(s.slice(s.lastIndexOf('if [ "$changed" = 1 ]; then', reload), reload), /nginx -t/);
        assert.ok(s.indexOf("systemctl start \"$idle_unit\"") < health);
    });
});
