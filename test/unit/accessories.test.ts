/**
 * Accessories (berth:accessories, components/data/accessory.ts): the example
 * stack under mocks (ports, URLs in the env file, secrets, readiness, the
 * local build), the generated scripts (goldens, shellcheck, run with real
 * bash against a stand-in `docker`), the data firewall on several hosts,
 * what adding or removing one changes, and configurations refused.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parseConfig } from "../../lib/config";
import { namedPort } from "../../lib/ports";
import { plan } from "../../lib/plan";
import { withShebang } from "../../lib/shell";
import { accessoryDockerfile, accessoryUrl, buildDeleteScript, buildScript, DEFAULT_BUILD_BASE, imageDigest, probeScript, PROBE_SECONDS } from "../../components/data/accessory";
import { expectGolden, expectShellcheckClean } from "./golden";
import { byType, isSecretWrapped, mockPassword, plainStrings, RunResult, runProgram, stackConfig, unwrap } from "./harness";

const EXAMPLE = "examples/Pulumi.accessories.yaml";
const CONTAINER = "docker:index/container:Container";
const example = (set: Record<string, unknown> = {}) => stackConfig("accessories", set, EXAMPLE);
const parsed = (sc = example()) => {
    const r = parseConfig(sc.values, { project: "berth", stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
    assert.ok(r.ok, !r.ok ? r.errors.join("\n") : "");
    return r.config;
};
const errorsOf = (sc: ReturnType<typeof stackConfig>) => {
    const r = parseConfig(sc.values, { project: "berth", stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
    assert.ok(!r.ok, "the configuration must be refused");
    return r.errors;
};
const envFileOf = (r: RunResult, name: string) => String(unwrap(r.resources.find((x) => x.name === name)!.inputs.stdin));
const one = (r: RunResult, name: string) => {
    const x = r.resources.find((y) => y.name === name);
    assert.ok(x, `${name} is registered`);
    return x;
};

describe("accessories: the example stack (examples/Pulumi.accessories.yaml)", () => {
    let r: RunResult;
    before(async () => {
        r = await runProgram(example());
        assert.equal(r.error, undefined, r.error?.message);
    });

    test("each accessory publishes on 127.0.0.1 at its named port slot; Postgres and Redis keep theirs", () => {
        const cfg = parsed();
        const ports = Object.fromEntries(byType(r, CONTAINER).map((c) => [unwrap(c.inputs.name), unwrap(c.inputs.ports)]));
        for (const a of ["search", "broker", "memcached"]) {
            const p = ports[`shop-accessories-${a}`];
            assert.equal(p.length, 1, a);
            assert.equal(p[0].ip, "127.0.0.1", a);
            assert.equal(p[0].external, namedPort("shop-accessories", a), a);
            assert.equal(p[0].internal, cfg.accessories[a].port, a);
        }
        assert.equal(ports["shop-accessories-postgres"][0].external, cfg.postgres.port);
        assert.equal(ports["shop-accessories-redis"][0].external, cfg.redis.port);
        const noAcc = parsed(example({ "berth:accessories": undefined }));
        assert.deepEqual([noAcc.postgres.port, noAcc.redis.port], [cfg.postgres.port, cfg.redis.port]);
    });

    test("the app's env file gets each URL under its urlEnv, the generated password in the broker's", () => {
        const env = envFileOf(r, "shop-accessories-units-env-file");
        const pw = mockPassword("shop-accessories-accessory-broker-password");
        assert.match(env, new RegExp(`^AMQP_URL="amqp://shop:${pw}@127\\.0\\.0\\.1:${namedPort("shop-accessories", "broker")}"$`, "m"));
        assert.match(env, new RegExp(`^MEILI_URL="http://127\\.0\\.0\\.1:${namedPort("shop-accessories", "search")}"$`, "m"));
        assert.match(env, new RegExp(`^MEMCACHE_URL="memcached://127\\.0\\.0\\.1:${namedPort("shop-accessories", "memcached")}"$`, "m"));
        // The broker gets the same password in its own variable, as a secret input.
        const broker = one(r, "shop-accessories-accessory-broker-container");
        assert.ok(isSecretWrapped(broker.inputs.envs), "the broker's envs are secret");
        assert.deepEqual(unwrap(broker.inputs.envs), ["RABBITMQ_DEFAULT_USER=shop", `RABBITMQ_DEFAULT_PASS=${pw}`]);
        const search = one(r, "shop-accessories-accessory-search-container");
        assert.ok(isSecretWrapped(search.inputs.envs), "berth:secretEnv values make the envs secret");
        const meiliKey = unwrap(search.inputs.envs).find((e: string) => e.startsWith("MEILI_MASTER_KEY="));
        assert.ok(meiliKey && r.secrets.includes(meiliKey.slice("MEILI_MASTER_KEY=".length)), "the value is berth:secretEnv's");
    });

    test("no secret value appears in any non-secret input (the accessories' passwords and secretEnv included)", () => {
        const secrets = r.secrets.filter((s) => s.length >= 8);
        for (const res of r.resources) {
            for (const { path: at, value } of plainStrings(res.inputs)) {
                for (const s of secrets) assert.ok(!value.includes(s), `${res.name} ${at} holds a secret in the clear`);
            }
        }
    });

    test("the env file waits for every accessory to be ready: its health-checked container, else its probe", () => {
        const envFile = one(r, "shop-accessories-units-env-file");
        // With a health command the container create waits for healthy; without, the probe.
        for (const d of ["shop-accessories-accessory-search-container", "shop-accessories-accessory-broker-container", "shop-accessories-accessory-memcached-probe"]) {
            assert.ok(envFile.dependsOn.includes(d), `env file after ${d}: ${envFile.dependsOn.join(" ")}`);
        }
        assert.ok(!envFile.dependsOn.includes("shop-accessories-accessory-memcached-container"));
        const search = one(r, "shop-accessories-accessory-search-container");
        assert.deepEqual(unwrap(search.inputs.healthcheck).tests, ["CMD-SHELL", "curl -fsS http://127.0.0.1:7700/health"]);
        assert.equal(unwrap(one(r, "shop-accessories-accessory-memcached-container").inputs.healthcheck), undefined);
        // The provider's wait is for a health check: on a container without one the create fails (seen on
        // the e2e host; test/e2e/providers.ts models it), so only the health-checked containers wait.
        assert.equal(search.inputs.wait, true);
        assert.equal(one(r, "shop-accessories-accessory-memcached-container").inputs.wait, undefined);
        for (const c of byType(r, "docker:index/container:Container")) {
            assert.equal(c.inputs.wait === true, unwrap(c.inputs.healthcheck) !== undefined, `${c.name}: waits exactly when it has a health check`);
        }
        assert.equal(byType(r, "command:remote:Command").filter((c) => c.name.endsWith("-probe")).length, 1, "only memcached has no health command");
    });

    test("volumes are Docker volumes <app>-<stack>-<volume>, labelled as data; the built image is tagged with its Dockerfile's digest", () => {
        const vols = byType(r, "docker:index/volume:Volume").map((v) => unwrap(v.inputs.name)).sort();
        assert.deepEqual(vols, ["shop-accessories-meili", "shop-accessories-pgdata", "shop-accessories-rabbitmq", "shop-accessories-redisdata"]);
        for (const v of byType(r, "docker:index/volume:Volume")) assert.ok(unwrap(v.inputs.labels).some((l: any) => l.label === "berth.data" && l.value === "true"), v.name);
        const cfg = parsed();
        const dockerfile = accessoryDockerfile(cfg, cfg.accessories.memcached);
        const image = one(r, "shop-accessories-accessory-memcached-image");
        assert.equal(unwrap(image.inputs.name), `berth-shop-accessories-memcached:${imageDigest(dockerfile)}`);
        assert.deepEqual(image.dependsOn, ["shop-accessories-accessory-memcached-build"]);
        const build = one(r, "shop-accessories-accessory-memcached-build");
        assert.ok(String(unwrap(build.inputs.create)).includes(`FROM ${DEFAULT_BUILD_BASE}`));
        // The command runs with /bin/sh -c; pulled images keep their own.
        assert.deepEqual(unwrap(one(r, "shop-accessories-accessory-memcached-container").inputs.command), ["/bin/sh", "-c", cfg.accessories.memcached.command]);
        assert.equal(unwrap(one(r, "shop-accessories-accessory-search-container").inputs.command), undefined);
    });

    test("production: accessory volumes are protected and retained, like Postgres's", async () => {
        const prod = await runProgram(example({ "berth:production": true }));
        assert.equal(prod.error, undefined, prod.error?.message);
        for (const v of byType(prod, "docker:index/volume:Volume")) {
            assert.ok(v.protect && v.retainOnDelete, v.name);
        }
        for (const v of byType(r, "docker:index/volume:Volume")) assert.ok(!v.protect && !v.retainOnDelete, v.name);
    });
});

describe("accessories: scripts (goldens, shellcheck)", () => {
    const cfg = parsed();
    const m = cfg.accessories.memcached;
    const dockerfile = accessoryDockerfile(cfg, m);
    const tag = `berth-shop-accessories-memcached:${imageDigest(dockerfile)}`;
    test("Dockerfile", () => expectGolden("accessories/memcached.Dockerfile", dockerfile));
    for (const [file, text] of [
        ["accessory-build.sh", buildScript(tag, dockerfile)],
        ["accessory-build-delete.sh", buildDeleteScript("berth-shop-accessories-memcached")],
        ["accessory-probe.sh", probeScript("shop-accessories-memcached", m.port, "memcached")],
    ] as const) {
        test(file, () => {
            expectGolden(`accessories/${file}`, text);
            expectShellcheckClean(`accessories/${file}`, withShebang(text));
        });
    }
    test("build.from, packages and the RUN line reach the Dockerfile; its digest is the tag", () => {
        const other = accessoryDockerfile(cfg, { ...m, build: { from: "berth-local/debian:bookworm", debianPackages: ["memcached", "netcat-openbsd"], command: "true" } });
        assert.match(other, /^FROM berth-local\/debian:bookworm$/m);
        assert.match(other, /--no-install-recommends memcached netcat-openbsd &&/);
        assert.match(other, /^RUN true$/m);
        assert.notEqual(imageDigest(other), imageDigest(dockerfile));
    });
    test("URLs: user and password only with a password; IPv6 addresses in brackets; the path kept", () => {
        const a = { urlScheme: "amqp", hostPort: 30000, urlPath: "/vhost", password: { env: "P", user: "u", rotation: "1" } };
        assert.equal(accessoryUrl(a, "10.0.0.2", "pw"), "amqp://u:pw@10.0.0.2:30000/vhost");
        assert.equal(accessoryUrl({ ...a, password: { env: "P", rotation: "1" } }, "127.0.0.1", "pw"), "amqp://:pw@127.0.0.1:30000/vhost");
        assert.equal(accessoryUrl({ ...a, password: undefined }, "fd00::1"), "amqp://[fd00::1]:30000/vhost");
    });
});

/** A stand-in `docker` on PATH: logs its argv, answers from files in `state`. */
function fakeDocker(dir: string): string {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(
        path.join(bin, "docker"),
        [
            "#!/bin/bash",
            `state=${JSON.stringify(path.join(dir, "state"))}`,
            'echo "$*" >> "$state/calls"',
            'case "$1 $2" in',
            '  "image inspect") grep -qxF "$3" "$state/images" 2>/dev/null ;;',
            '  "build --tag") cat > "$state/dockerfile"; echo "$3" >> "$state/images"; echo "Step 1/4 : FROM ..." ;;',
            '  "image ls") grep "^${@: -1}:" "$state/images" 2>/dev/null || true ;;',
            '  "image rm") if grep -qxF "$3" "$state/in-use" 2>/dev/null; then exit 1; fi; grep -vxF "$3" "$state/images" > "$state/images.new" || true; mv "$state/images.new" "$state/images" ;;',
            '  "inspect -f") cat "$state/ip" ;;',
            '  "logs --tail") echo "container log" ;;',
            "  *) exit 2 ;;",
            "esac",
            "",
        ].join("\n"),
        { mode: 0o755 },
    );
    fs.mkdirSync(path.join(dir, "state"));
    return bin;
}

function runBash(text: string, bin: string) {
    return spawnSync("bash", ["-c", text], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
}

describe("accessories: the scripts run with real bash against a stand-in docker", () => {
    const cfg = parsed();
    const dockerfile = accessoryDockerfile(cfg, cfg.accessories.memcached);
    const repo = "berth-shop-accessories-memcached";
    const tag = `${repo}:${imageDigest(dockerfile)}`;

    test("build: builds once from the Dockerfile on stdin, then unchanged; removes the repository's unused older tags only", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-acc-"));
        try {
            const bin = fakeDocker(dir);
            const st = (f: string) => path.join(dir, "state", f);
            fs.writeFileSync(st("images"), `${repo}:old1\n${repo}:old2\nother:1\n`);
            fs.writeFileSync(st("in-use"), `${repo}:old2\n`);
            const first = runBash(buildScript(tag, dockerfile), bin);
            assert.equal(first.status, 0, first.stderr);
            assert.equal(first.stdout, `built ${tag}\n`);
            assert.equal(fs.readFileSync(st("dockerfile"), "utf8"), dockerfile);
            assert.deepEqual(fs.readFileSync(st("images"), "utf8").trim().split("\n").sort(), [`${repo}:old2`, "other:1", tag].sort());
            const second = runBash(buildScript(tag, dockerfile), bin);
            assert.equal(second.status, 0, second.stderr);
            assert.equal(second.stdout, `unchanged ${tag}\n`);
            assert.equal(fs.readFileSync(st("calls"), "utf8").split("\n").filter((l) => l.startsWith("build")).length, 1);
            fs.writeFileSync(st("in-use"), "");
            const del = runBash(buildDeleteScript(repo), bin);
            assert.equal(del.status, 0, del.stderr);
            assert.deepEqual(fs.readFileSync(st("images"), "utf8").trim().split("\n"), ["other:1"]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("probe: ready once something accepts connections on the container's address; fails naming the accessory otherwise", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-acc-"));
        const server = net.createServer((s) => s.end());
        try {
            const bin = fakeDocker(dir);
            await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
            const port = (server.address() as net.AddressInfo).port;
            fs.writeFileSync(path.join(dir, "state", "ip"), "127.0.0.1 \n");
            const ok = runBash(probeScript("c1", port, "memcached"), bin);
            assert.equal(ok.status, 0, ok.stderr);
            assert.equal(ok.stdout, `ready c1:${port}\n`);
            server.close();
            const short = probeScript("c1", port, "memcached").replace(`seq 1 ${PROBE_SECONDS}`, "seq 1 2");
            const bad = runBash(short, bin);
            assert.equal(bad.status, 1);
            assert.match(bad.stderr, new RegExp(`berth: accessory memcached: nothing accepts connections on port ${port} in container c1`));
            assert.match(bad.stderr, /container log/);
        } finally {
            server.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("accessories: adding and removing", () => {
    const ACC = { image: "getmeili/meilisearch:v1.10", port: 7700, urlEnv: "MEILI_URL", health: "true" };
    const changed = (a: RunResult, b: RunResult) => {
        const before = new Map(a.resources.map((x) => [`${x.type}::${x.name}`, x]));
        const out: string[] = [];
        for (const x of b.resources) {
            const prev = before.get(`${x.type}::${x.name}`);
            if (!prev) out.push(`+${x.name}`);
            else if (JSON.stringify(prev.inputs) !== JSON.stringify(x.inputs)) out.push(x.name);
        }
        for (const x of a.resources) if (!b.resources.some((y) => y.type === x.type && y.name === x.name)) out.push(`-${x.name}`);
        return out.sort();
    };
    test("adding one to staging: its resources, the env file and the switch; no other container, volume or port moves", async () => {
        const base = await runProgram(stackConfig("staging"));
        const after = await runProgram(stackConfig("staging", { "berth:accessories": { search: ACC } }));
        assert.equal(after.error, undefined, after.error?.message);
        assert.deepEqual(changed(base, after), [
            "+shop-staging-accessory-search",
            "+shop-staging-accessory-search-container",
            "+shop-staging-accessory-search-image",
            "shop-staging-switch-switch",
            "shop-staging-units-env-file",
        ]);
    });
    test("removing one never moves another's port (nor Postgres's or Redis's)", async () => {
        const both = await runProgram(example());
        const fewer = await runProgram(example({ "berth:accessories": { memcached: parsedRaw().memcached } }));
        assert.equal(fewer.error, undefined, fewer.error?.message);
        const portsOf = (x: RunResult) => Object.fromEntries(byType(x, CONTAINER).map((c) => [unwrap(c.inputs.name), unwrap(c.inputs.ports)[0].external]));
        const [a, b] = [portsOf(both), portsOf(fewer)];
        for (const name of Object.keys(b)) assert.equal(b[name], a[name], name);
        assert.deepEqual(Object.keys(b).sort(), ["shop-accessories-memcached", "shop-accessories-postgres", "shop-accessories-redis"]);
    });
});

/** The example's berth:accessories as written. */
function parsedRaw(): Record<string, any> {
    return JSON.parse(example().values["berth:accessories"]);
}

describe("accessories on several hosts", () => {
    const FLEET = "examples/Pulumi.fleet.yaml";
    const ACC = { search: { image: "getmeili/meilisearch:v1.10", port: 7700, urlEnv: "MEILI_URL", health: "true" } };
    test("published on the data host's mesh address, admitted by the data firewall (host and container port), the URL on web hosts", async () => {
        const sc = stackConfig("fleet", { "berth:accessories": ACC }, FLEET);
        const cfg = parsed(sc);
        const p = plan(cfg);
        assert.equal(p.data.kind, "containers");
        if (p.data.kind !== "containers") return;
        const hp = cfg.accessories.search.hostPort;
        assert.deepEqual(p.data.firewall?.ports, [cfg.postgres.port, cfg.redis.port, hp]);
        assert.deepEqual(p.data.firewall?.containerPorts, [5432, 6379, 7700]);
        const r = await runProgram(sc);
        assert.equal(r.error, undefined, r.error?.message);
        const c = one(r, "shop-fleet-accessory-search-data-container");
        assert.equal(unwrap(c.inputs.ports)[0].ip, p.data.address);
        assert.notEqual(p.data.address, "127.0.0.1");
        const rules = String(unwrap(one(r, "shop-fleet-data-firewall-rules").inputs.create));
        assert.match(rules, new RegExp(`--ctorigdstport ${hp} -j DROP`));
        assert.match(rules, /--dport 7700 -m conntrack --ctstate NEW/);
        for (const h of ["web1", "web2"]) {
            assert.match(envFileOf(r, `shop-fleet-units-${h}-env-file`), new RegExp(`^MEILI_URL="http://${p.data.address.replace(/\./g, "\\.")}:${hp}"$`, "m"), h);
        }
        // Without accessories the firewall's rules are today's (the default container ports).
        const plain = plan(parsed(stackConfig("fleet", {}, FLEET)));
        assert.equal(plain.data.kind === "containers" && plain.data.firewall?.containerPorts, undefined);
    });
    test("refused on a host without the data role (Docker runs on the data host only)", () => {
        const errors = errorsOf(stackConfig("fleet", { "berth:accessories": { search: { ...ACC.search, hosts: ["web1"] }, mail: { ...ACC.search, urlEnv: "MAIL_URL", role: "web" } } }, FLEET));
        assert.ok(errors.includes("berth:accessories.search.hosts: web1 has no data role; accessories run on the data host's Docker engine"), errors.join("\n"));
        assert.ok(errors.includes("berth:accessories.mail.hosts: web1 has no data role; accessories run on the data host's Docker engine"), errors.join("\n"));
        assert.ok(errors.includes("berth:accessories.mail.hosts: web2 has no data role; accessories run on the data host's Docker engine"), errors.join("\n"));
    });
    test("build.from must be an image reference", () => {
        const errors = errorsOf(example({ "berth:accessories": { m: { build: { from: "not an image!", debianPackages: ["memcached"] }, command: "memcached", port: 11211, urlEnv: "M_URL" } } }));
        assert.ok(errors.some((e) => e.startsWith("berth:accessories.m.build.from:")), errors.join("\n"));
    });
});

describe("accessories: berth verify knows them", () => {
    test("the declared containers (cli/support/declared.ts) hold every accessory with its image, the built one by its tag", async () => {
        const { declared } = await import("../../cli/support/declared");
        const sc = example();
        const cfg = parsed(sc);
        const d = await declared(cfg, sc.values, new Set(sc.secretKeys), undefined, cfg.release.revision);
        const images = Object.fromEntries(d.containers.map((c) => [c.name, c.image]));
        assert.deepEqual(Object.keys(images).sort(), ["shop-accessories-broker", "shop-accessories-memcached", "shop-accessories-postgres", "shop-accessories-redis", "shop-accessories-search"]);
        assert.equal(images["shop-accessories-search"], "getmeili/meilisearch:v1.10");
        assert.equal(images["shop-accessories-memcached"], `berth-shop-accessories-memcached:${imageDigest(accessoryDockerfile(cfg, cfg.accessories.memcached))}`);
    });
});
