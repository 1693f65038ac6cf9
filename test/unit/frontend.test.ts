/**
 * berth:frontend and berth:soakSeconds (issue 19 items 1 and 2): the
 * configuration refused at the edge, the generated scripts (goldens under
 * test/golden/frontend/, shellcheck), the soak run with real bash against
 * stand-in commands (a probe that fails on the 3rd try rolls the backend
 * back), and what the engine runs for a backend-only, frontend-only or
 * combined change (the program under mocks). The nginx site with a
 * frontend is checked with `nginx -t` in web.test.ts.
 */
import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { BerthConfig, parseConfig } from "../../lib/config";
import { HOST_LOCK, frontendNames } from "../../lib/names";
import { withShebang } from "../../lib/shell";
import { frontendBuildScript, frontendDeleteScript, frontendPublishScript } from "../../components/web/frontend";
import { nginxSiteFile } from "../../components/web/nginxSite";
import { soakScript, soakUrl } from "../../components/app/soak";
import { resolveFrontendRevision } from "../../lib/frontendRevision";
import { expectGolden, expectShellcheckClean } from "./golden";
import { Recorded, runProgram, stackConfig } from "./harness";

const EXAMPLE = "examples/Pulumi.frontend.yaml";
const example = (set: Record<string, unknown> = {}) => stackConfig("frontend", set, EXAMPLE);
const parse = (sc: ReturnType<typeof example>) => parseConfig(sc.values, { project: "berth", stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
const parsed = (set: Record<string, unknown> = {}): BerthConfig => {
    const r = parse(example(set));
    assert.ok(r.ok, !r.ok ? r.errors.join("\n") : "");
    return r.config;
};
const errorsOf = (set: Record<string, unknown>) => {
    const r = parse(example(set));
    assert.ok(!r.ok, "the configuration must be refused");
    return r.errors;
};
const FRONTEND = { build: 'cd site && hugo --minify -d "$OUT"', packages: ["hugo"], mount: "root", appPath: "/api" };
const SHA = "1".repeat(40);
const PREV = "0".repeat(40);
const INPUTS = { sha: SHA, envHash: "e".repeat(64), unitsHash: "f".repeat(64) };

describe("frontend: configuration", () => {
    test("the example parses: the frontend at the root, the app under /api, a soak of 60 s", () => {
        const cfg = parsed();
        assert.deepEqual(cfg.frontend, { build: FRONTEND.build, output: undefined, repository: undefined, revision: undefined, mount: "root", appPath: "/api", packages: ["hugo"], keepReleases: 3 });
        assert.equal(cfg.soakSeconds, 60);
        assert.equal(soakUrl(cfg), "https://app.shop.example.com/api/up");
        // The build's packages are installed by the host's package step, with berth:packages.
        assert.deepEqual(cfg.packages, ["hugo"]);
        assert.deepEqual(parsed({ "berth:packages": ["libvips42t64", "hugo"] }).packages, ["libvips42t64", "hugo"]);
    });
    test("no berth:frontend: none, and the soak's default is still 60 (unused)", () => {
        const cfg = parsed({ "berth:frontend": undefined });
        assert.equal(cfg.frontend, undefined);
        assert.equal(cfg.soakSeconds, 60);
    });
    test("bad input: every problem named by its key, in one pass", () => {
        const errors = errorsOf({
            "berth:frontend": { build: "a\nb", mount: "not a name!", packages: ["Hugo"], keepReleases: 0, extra: 1 },
            "berth:soakSeconds": 7200,
        });
        const text = errors.join("\n");
        assert.match(text, /berth:frontend\.build: must be one line of shell/);
        assert.match(text, /berth:frontend\.mount: "not a name!" is not root or a host name/);
        assert.match(text, /berth:frontend\.packages\[0\]: "Hugo" is not a valid Debian package name/);
        assert.match(text, /berth:frontend\.keepReleases: must be 1 or more/);
        assert.match(text, /berth:frontend\.extra: unknown key/);
        assert.match(text, /berth:soakSeconds: must be at most 3600/);
    });
    test("a host name of its own must be one of berth:extraHostnames, not the domain, and takes no appPath", () => {
        assert.match(errorsOf({ "berth:frontend": { ...FRONTEND, mount: "www.shop.example.com", appPath: undefined } }).join("\n"), /berth:frontend\.mount: "www\.shop\.example\.com" is not in berth:extraHostnames/);
        assert.match(errorsOf({ "berth:frontend": { ...FRONTEND, mount: "app.shop.example.com", appPath: undefined } }).join("\n"), /berth:frontend\.mount: .* is berth:domain/);
        assert.match(
            errorsOf({ "berth:extraHostnames": ["www.shop.example.com"], "berth:frontend": { ...FRONTEND, mount: "www.shop.example.com" } }).join("\n"),
            /berth:frontend\.appPath: only with mount root/,
        );
        const ok = parsed({ "berth:extraHostnames": ["www.shop.example.com"], "berth:frontend": { ...FRONTEND, mount: "www.shop.example.com", appPath: undefined } });
        assert.deepEqual(ok.frontend!.mount, { hostname: "www.shop.example.com" });
        assert.equal(soakUrl(ok), "https://app.shop.example.com/up");
    });
    test("production: the frontend's revision must not move either", () => {
        const errors = errorsOf({ "berth:production": true, "berth:revision": SHA, "berth:frontend": { ...FRONTEND, revision: "main" } });
        assert.ok(errors.includes('berth:frontend.revision: "main" can move; production needs a full commit sha or a tag'), errors.join("\n"));
        assert.equal(parsed({ "berth:production": true, "berth:revision": SHA, "berth:frontend": { ...FRONTEND, revision: "v3" } }).frontend!.revision, "v3");
    });
    test("an own repository needs its own revision; several web hosts are refused", () => {
        assert.match(errorsOf({ "berth:frontend": { ...FRONTEND, repository: "https://git.example.com/site.git" } }).join("\n"), /berth:frontend\.revision: required with frontend\.repository/);
        const hosts = [
            { name: "web1", address: "203.0.113.61", roles: ["web", "worker", "data"] },
            { name: "web2", address: "203.0.113.62", roles: ["web"] },
        ];
        const errors = errorsOf({ "berth:host": undefined, "berth:hostKey": undefined, "berth:hosts": hosts });
        assert.ok(errors.some((e) => /^berth:frontend: one web host only/.test(e)), errors.join("\n"));
    });
    test("the frontend's revision: the app's by default; a full sha is itself; a branch is looked up in its repository", () => {
        const app = { ref: "main", sha: SHA };
        assert.equal(resolveFrontendRevision(parsed(), app), app);
        assert.deepEqual(resolveFrontendRevision(parsed({ "berth:frontend": { ...FRONTEND, revision: PREV } }), app), { ref: PREV, sha: PREV });
        const asked: string[] = [];
        const ls = (repo: string) => (asked.push(repo), `${"2".repeat(40)}\trefs/heads/site\n`);
        const cfg = parsed({ "berth:frontend": { ...FRONTEND, repository: "https://git.example.com/site.git", revision: "site" } });
        assert.deepEqual(resolveFrontendRevision(cfg, app, ls, { BERTH_REVISION_SHA: SHA }), { ref: "site", sha: "2".repeat(40) });
        assert.deepEqual(asked, ["https://git.example.com/site.git"]);
        assert.throws(() => resolveFrontendRevision(cfg, app, () => ""), /^Error: berth:frontend\.revision: "site" is neither a branch nor a tag/);
    });
});

describe("frontend: scripts (goldens, shellcheck)", () => {
    const cfg = parsed() as BerthConfig & { frontend: NonNullable<BerthConfig["frontend"]> };
    const own = parsed({ "berth:frontend": { ...FRONTEND, repository: "https://git.example.com/site.git", revision: PREV, output: "site/public", packages: [] } }) as typeof cfg;
    const prev = parsed({ "berth:soakSeconds": 0 });
    for (const [file, text] of [
        ["frontend-build.sh", frontendBuildScript(cfg, SHA)],
        ["frontend-build-own-repository.sh", frontendBuildScript(own, PREV)],
        ["frontend-publish.sh", frontendPublishScript(cfg, SHA)],
        ["frontend-delete.sh", frontendDeleteScript(cfg)],
        ["soak.sh", soakScript(cfg, INPUTS)],
        ["soak-skipped.sh", soakScript(prev, INPUTS)],
    ] as const) {
        test(file, () => {
            expectGolden(`frontend/${file}`, text);
            expectShellcheckClean(`frontend/${file}`, withShebang(text));
        });
    }
    test("nginx sites: the frontend at the root, and on a host name of its own", () => {
        expectGolden("frontend/nginx-https.conf", nginxSiteFile(cfg, "full"));
        const www = parsed({ "berth:extraHostnames": ["www.shop.example.com"], "berth:frontend": { ...FRONTEND, mount: "www.shop.example.com", appPath: undefined } });
        expectGolden("frontend/nginx-https-own-name.conf", nginxSiteFile(www, "full"));
    });
    test("the root site: /api/ proxied with the prefix stripped, HTML no-cache, fingerprinted files immutable for a year", () => {
        const site = nginxSiteFile(cfg, "full");
        assert.match(site, /location \^~ \/api\/ \{\n {8}proxy_pass http:\/\/berth_shop_frontend\/;/);
        assert.match(site, /add_header Cache-Control "public, max-age=31536000, immutable";/);
        assert.match(site, /add_header Cache-Control "no-cache";/);
        assert.ok(site.includes(`root ${frontendNames(cfg.names).current};`));
        assert.doesNotMatch(site, /location @app/);
    });
    test("soakSeconds 0 or maintenance: no probe at all", () => {
        assert.doesNotMatch(soakScript(prev, INPUTS), /curl -s -k/);
        assert.doesNotMatch(soakScript(parsed({ "berth:maintenance": true }), INPUTS), /curl -s -k/);
    });
});

// ---------------------------------------------------------------------------
// The soak with real bash against stand-ins

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-frontend-test-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/**
 * A host tree in `root`: blue serves SHA (just switched), green still runs
 * PREV (the rollback window), the frontend serves its v1. `failOn`: the
 * public probe that answers 503 (0: none); `restartOn`: the probe after
 * which the serving unit's InvocationID changes.
 */
function fakeHost(root: string, opts: { failOn?: number; restartOn?: number; noPrevious?: boolean; soakSeconds?: number }) {
    const base = parsed({ "berth:soakSeconds": opts.soakSeconds ?? 2 });
    const n = base.names;
    const at = (p: string) => path.join(root, p);
    const names = { ...n, root: at(n.root), runDir: at(n.runDir), webSocket: at(n.webSocket) };
    const cfg = { ...base, names } as BerthConfig;
    const rel = (sha: string) => `${names.root}/releases/${sha}`;
    for (const sha of [SHA, PREV]) {
        fs.mkdirSync(rel(sha), { recursive: true });
        fs.writeFileSync(`${rel(sha)}/.berth-built`, "");
    }
    for (const d of ["state", "slots"]) fs.mkdirSync(`${names.root}/${d}`, { recursive: true });
    fs.mkdirSync(names.runDir, { recursive: true });
    fs.writeFileSync(`${names.root}/state/color`, "blue\n");
    fs.writeFileSync(`${names.root}/state/revision`, `${SHA}\n`);
    fs.writeFileSync(`${names.root}/state/blue.stamp`, "new\n");
    fs.symlinkSync(rel(SHA), `${names.root}/slots/blue`);
    if (!opts.noPrevious) fs.symlinkSync(rel(PREV), `${names.root}/slots/green`);
    fs.symlinkSync(`${names.runDir}/blue.sock`, names.webSocket);
    fs.symlinkSync(rel(SHA), `${names.root}/current`);
    const fe = frontendNames(names);
    fs.mkdirSync(`${fe.releases}/${PREV}/site`, { recursive: true });
    fs.symlinkSync(`${fe.releases}/${PREV}/site`, fe.current);
    const bin = at("bin");
    fs.mkdirSync(bin);
    const log = at("log");
    const count = at("probes");
    const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/bash\necho "${name} $*" >> ${JSON.stringify(log)}\n${body}\n`, { mode: 0o755 });
    stub(
        "curl",
        [
            'case "$*" in *--unix-socket*) printf "200 "; exit 0 ;; esac',
            `c=$(( $(cat ${JSON.stringify(count)} 2>/dev/null || echo 0) + 1 )); echo "$c" > ${JSON.stringify(count)}`,
            `if [ "$c" = ${opts.failOn ?? 0} ]; then printf 503; else printf 200; fi`,
        ].join("\n"),
    );
    stub(
        "systemctl",
        [
            'if [ "$1" = show ]; then',
            `  c=$(cat ${JSON.stringify(count)} 2>/dev/null || echo 0)`,
            `  if [ ${opts.restartOn ?? 0} != 0 ] && [ "$c" -ge ${opts.restartOn ?? 0} ]; then echo InvocationID=bbbb; echo NRestarts=1; else echo NRestarts=0; echo InvocationID=aaaa; fi`,
            "fi",
            "exit 0",
        ].join("\n"),
    );
    stub("systemd-run", "exit 0");
    stub("sleep", "/bin/sleep 0.05");
    const body = soakScript(cfg as never, INPUTS).split(HOST_LOCK).join(at("lock"));
    const r = spawnSync("bash", ["-c", body], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
    return { r, calls, names, fe };
}

describe("soak, run with bash against a fake host", () => {
    test("every probe 200 for the soak: exit 0, traffic stays on the new release, the soak recorded", () => {
        const { r, calls, names } = fakeHost(path.join(scratch, "ok"), {});
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /soak of 1{40} passed: \d+ probes of https:\/\/app\.shop\.example\.com\/api\/up answered 200 in 2s/);
        assert.ok((calls.match(/^curl .*--resolve app\.shop\.example\.com:443:127\.0\.0\.1 https:\/\/app\.shop\.example\.com\/api\/up$/gm) ?? []).length >= 2);
        assert.equal(fs.readlinkSync(names.webSocket), `${names.runDir}/blue.sock`);
        assert.match(fs.readFileSync(`${names.root}/state/soak`, "utf8"), / 1{40} passed \d+ probes/);
    });
    test("the 3rd probe answers 503: rolled back to the kept release, the frontend untouched, exit 1 naming the probe", () => {
        const { r, calls, names, fe } = fakeHost(path.join(scratch, "fail"), { failOn: 3 });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /soak of release 1{40} failed: probe 3: GET https:\/\/app\.shop\.example\.com\/api\/up answered 503 at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
        assert.match(r.stderr, /rolled back: 0{40} serves again on green/);
        assert.equal(fs.readlinkSync(names.webSocket), `${names.runDir}/green.sock`);
        assert.equal(fs.readFileSync(`${names.root}/state/color`, "utf8").trim(), "green");
        assert.equal(fs.readFileSync(`${names.root}/state/revision`, "utf8").trim(), PREV);
        assert.equal(fs.readlinkSync(`${names.root}/current`), `${names.root}/releases/${PREV}`);
        assert.ok(!fs.existsSync(`${names.root}/state/blue.stamp`), "the failed instance's stamp goes");
        assert.match(calls, new RegExp(`systemd-run .*--on-active=${parsed().release.drainSeconds} -p Conflicts=${names.proxyUnit}blue\\.socket -p Conflicts=${names.webUnit}blue\\.service`));
        assert.equal(fs.readlinkSync(fe.current), `${fe.releases}/${PREV}/site`);
        assert.match(fs.readFileSync(`${names.root}/state/soak`, "utf8"), / 1{40} failed: probe 3/);
        assert.equal((calls.match(/^curl .*--resolve/gm) ?? []).length, 3, "no probe after the failed one");
    });
    test("a restart of the serving unit fails the soak, naming the unit", () => {
        const { r, names } = fakeHost(path.join(scratch, "restart"), { restartOn: 2 });
        assert.equal(r.status, 1);
        assert.match(r.stderr, new RegExp(`failed: ${names.webUnit}blue\\.service restarted \\(probe 2 at .*InvocationID=aaaa NRestarts=0, now InvocationID=bbbb NRestarts=1\\)`));
        assert.equal(fs.readlinkSync(names.webSocket), `${names.runDir}/green.sock`);
    });
    test("the first release (nothing to roll back to) keeps serving and fails the up", () => {
        const { r, names } = fakeHost(path.join(scratch, "first"), { failOn: 1, noPrevious: true });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /no previous release to roll back to/);
        assert.equal(fs.readlinkSync(names.webSocket), `${names.runDir}/blue.sock`);
    });
});

// ---------------------------------------------------------------------------
// What the engine runs: dependencies and inputs of the program under mocks

const byName = (rs: Recorded[], suffix: string) => {
    const r = rs.find((x) => x.name.endsWith(suffix) && x.type === "command:remote:Command");
    assert.ok(r, `${suffix} is registered`);
    return r;
};
const A = "a".repeat(40);
const B = "b".repeat(40);
const F1 = "c".repeat(40);
const F2 = "d".repeat(40);
async function render(app: string, frontendRev: string | undefined) {
    const r = await runProgram(example({ "berth:revision": app, "berth:frontend": { ...FRONTEND, revision: frontendRev }, "berth:deployKey": { secure: "key" } }));
    assert.equal(r.error, undefined, String(r.error));
    return r.resources;
}
const inputsOf = (rs: Recorded[], suffix: string) => JSON.stringify(byName(rs, suffix).inputs);

describe("frontend: the order and what each change runs (program under mocks)", () => {
    test("build before the switch; switch, soak, publish in that order", async () => {
        const rs = await render(A, undefined);
        assert.ok(byName(rs, "-switch-switch").dependsOn.includes("shop-frontend-frontend-build"));
        assert.ok(byName(rs, "-soak-soak").dependsOn.includes("shop-frontend-switch-switch"));
        const publish = byName(rs, "-frontend-publish").dependsOn;
        for (const d of ["shop-frontend-soak-soak", "shop-frontend-frontend-build", "shop-frontend-site-https-https"]) assert.ok(publish.includes(d), d);
        // Following berth:revision: the frontend is the app's commit.
        const pub = byName(rs, "-frontend-publish").inputs;
        assert.match(String(pub.create), new RegExp(`frontend/releases/${A}/site`));
        // Never replaced (its delete would remove the frontend): no triggers.
        assert.equal(pub.triggers, undefined);
    });
    test("a frontend-only change: build and publish change; switch and soak do not", async () => {
        const [one, two] = [await render(A, F1), await render(A, F2)];
        for (const s of ["-switch-switch", "-soak-soak", "-release-checkout"]) assert.equal(inputsOf(one, s), inputsOf(two, s), s);
        for (const s of ["-frontend-build", "-frontend-publish"]) assert.notEqual(inputsOf(one, s), inputsOf(two, s), s);
    });
    test("a backend-only change: switch and soak change; build and publish do not", async () => {
        const [one, two] = [await render(A, F1), await render(B, F1)];
        for (const s of ["-switch-switch", "-soak-soak"]) assert.notEqual(inputsOf(one, s), inputsOf(two, s), s);
        for (const s of ["-frontend-build", "-frontend-publish"]) assert.equal(inputsOf(one, s), inputsOf(two, s), s);
    });
});
