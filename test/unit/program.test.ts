/**
 * index.ts under Pulumi's mock runtime with the real stack files: what the
 * program registers, and the safety properties it must hold.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { byType, isSecretWrapped, plainStrings, Recorded, RunResult, runProgram, stackConfig, unwrap } from "./harness";
import { HOST_HARDENING } from "../../lib/names";

const STACKS = ["staging", "production"] as const;
const runs: Record<string, RunResult> = {};

before(async () => {
    for (const s of STACKS) {
        runs[s] = await runProgram(stackConfig(s));
        assert.equal(runs[s].error, undefined, runs[s].error?.message);
    }
});

const CMD = "command:remote:Command";
const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";

for (const stack of STACKS) {
    describe(`${stack} stack`, () => {
        test("component tree: one Environment composing Host, DataServices, PostgresRole and Dns", () => {
            const r = runs[stack];
            const env = byType(r, "berth:env:Environment");
            assert.equal(env.length, 1);
            assert.equal(env[0].parent, undefined);
            for (const t of ["berth:host:Host", "berth:data:DataServices", "berth:postgres:PostgresRole", "berth:dns:Dns"]) {
                const c = byType(r, t);
                assert.equal(c.length, 1, t);
                assert.equal(c[0].parent, env[0].name, `${t} is a child of the environment`);
            }
            for (const res of r.resources) {
                if (res !== env[0]) assert.ok(res.parent, `${res.type} ${res.name} has a parent`);
            }
            const hostCmds = r.resources.filter((x) => x.type === CMD && x.parent?.endsWith("-host")).map((x) => x.name.replace(/^.*-host-/, ""));
            assert.deepEqual(hostCmds.sort(), ["app-user", "docker-engine", "firewall", "nginx-hardening", "packages", "ssh-hardening"]);
        });

        test("Postgres and Redis publish only on 127.0.0.1", () => {
            const containers = byType(runs[stack], CONTAINER);
            assert.equal(containers.length, 2);
            for (const c of containers) {
                const ports = unwrap(c.inputs.ports);
                assert.ok(ports.length > 0);
                for (const p of ports) assert.equal(p.ip, "127.0.0.1", `${c.name} port ${p.external}`);
                assert.ok(c.deleteBeforeReplace, `${c.name} must be deleted before it is replaced`);
                assert.equal(c.inputs.restart, "unless-stopped");
                assert.ok(c.inputs.healthcheck?.tests?.length, `${c.name} has a health check`);
            }
        });

        test("Redis requires a password and persists with AOF; secrets are uploaded, not in env or argv", () => {
            const redis = byType(runs[stack], CONTAINER).find((c) => c.name.endsWith("-redis"))!;
            const uploadIsSecret = (c: Recorded) => isSecretWrapped(c.inputs.uploads) || isSecretWrapped(c.inputs.uploads[0]?.content);
            assert.ok(uploadIsSecret(redis), "the redis.conf upload is secret");
            const conf = unwrap(redis.inputs.uploads)[0].content as string;
            assert.match(conf, /^appendonly yes$/m);
            assert.match(conf, /^requirepass mockpw[0-9a-f]+$/m);
            assert.match(conf, /^# Managed by berth \(project berth, stack /);
            const pg = byType(runs[stack], CONTAINER).find((c) => c.name.endsWith("-postgres"))!;
            assert.ok(uploadIsSecret(pg), "the postgres password upload is secret");
            assert.ok(unwrap(pg.inputs.envs).includes("POSTGRES_PASSWORD_FILE=/etc/berth-postgres-password"));
        });

        test("no secret value appears in any non-secret input", () => {
            const r = runs[stack];
            assert.ok(r.secrets.length >= 5, "the run knows its secrets");
            for (const res of r.resources) {
                for (const { path, value } of plainStrings(res.inputs)) {
                    for (const s of r.secrets) {
                        assert.ok(!value.includes(s), `${res.name} ${path} contains a secret`);
                    }
                }
            }
        });

        test("remote commands: argv is plain and secret-free, secrets on stdin, outputs marked secret", () => {
            const r = runs[stack];
            const cmds = byType(r, CMD);
            assert.ok(cmds.length >= 6);
            for (const c of cmds) {
                for (const k of ["create", "update", "delete"]) {
                    const v = c.inputs[k];
                    if (v === undefined) continue;
                    assert.ok(!isSecretWrapped(v), `${c.name}.${k} stays readable in preview --diff`);
                    assert.match(v, /^(sudo -n )?bash -c '/, `${c.name}.${k} runs under bash -c`);
                    for (const s of r.secrets) assert.ok(!v.includes(s), `${c.name}.${k} carries a secret in argv`);
                }
                assert.equal(c.inputs.environment, undefined, `${c.name} must not use remote environment`);
                assert.equal(c.inputs.addPreviousOutputInEnv, false);
                if (c.inputs.stdin !== undefined) {
                    assert.ok(isSecretWrapped(c.inputs.stdin), `${c.name}.stdin is secret`);
                    assert.equal(c.inputs.logging, "none");
                    assert.ok(c.additionalSecretOutputs.includes("stdout") && c.additionalSecretOutputs.includes("stderr"), c.name);
                }
            }
            const role = cmds.find((c) => c.name.endsWith("-postgres-role-role"))!;
            assert.ok(role.inputs.stdin, "the role password goes on stdin");
        });

        test("every connection pins the host key, the Docker provider too", () => {
            const r = runs[stack];
            const hostKey = stackConfig(stack).values["berth:hostKey"];
            for (const c of byType(r, CMD)) {
                assert.equal(unwrap(c.inputs.connection).hostKey, hostKey, c.name);
            }
            const [provider] = byType(r, "pulumi:providers:docker");
            const opts: string[] = JSON.parse(JSON.stringify(unwrap(provider.inputs.sshOpts)));
            const flat = Array.isArray(opts) ? opts : JSON.parse(opts as unknown as string);
            assert.ok(flat.includes("StrictHostKeyChecking=yes"));
            assert.ok(flat.some((o: string) => o.startsWith("KnownHostsCommand=/bin/echo ") && o.endsWith(hostKey)), flat.join(" "));
            assert.match(unwrap(provider.inputs.host), /^ssh:\/\/root@203\.0\.113\.\d+:22$/);
        });

        test("stack outputs that carry credentials are secret", () => {
            assert.equal(runs[stack].secretOutputs.databaseUrl, true);
            assert.equal(runs[stack].secretOutputs.redisUrl, true);
            assert.notEqual(runs[stack].secretOutputs.url, true, "the URL stays readable");
        });
    });
}

describe("dev stack (Pulumi.dev.yaml)", () => {
    test("runs with its machine-specific deploy key supplied, on local images, without DNS", async () => {
        // dev:up sets the deploy key per machine; the file itself holds no secrets.
        const r = await runProgram(stackConfig("dev", { "berth:deployKey": { secure: "set-by-dev-up" } }));
        assert.equal(r.error, undefined, r.error?.message);
        assert.equal(byType(r, "berth:dns:Dns").length, 0);
        const images = byType(r, "docker:index/remoteImage:RemoteImage").map((i) => unwrap(i.inputs.name)).sort();
        assert.deepEqual(images, ["berth-local/postgres:15", "berth-local/redis:7"]);
        for (const c of byType(r, CONTAINER)) for (const p of unwrap(c.inputs.ports)) assert.equal(p.ip, "127.0.0.1");
    });
});

describe("production data is never destroyed by an accident in the program", () => {
    test("production volumes are protected and retained on delete", () => {
        const vols = byType(runs.production, VOLUME);
        assert.equal(vols.length, 2);
        for (const v of vols) {
            assert.ok(v.protect, `${v.name} protect`);
            assert.ok(v.retainOnDelete, `${v.name} retainOnDelete`);
        }
    });
    test("the production role and app directories are kept on delete", () => {
        const role = runs.production.resources.find((x) => x.name.endsWith("-postgres-role-role"))!;
        assert.equal(role.inputs.delete, undefined);
        assert.ok(role.retainOnDelete);
        const user = runs.production.resources.find((x) => x.name.endsWith("-host-app-user"))!;
        assert.equal(user.inputs.delete, undefined);
    });
    test("staging volumes are not protected and its role is dropped on delete", () => {
        for (const v of byType(runs.staging, VOLUME)) assert.ok(!v.protect && !v.retainOnDelete, v.name);
        const role = runs.staging.resources.find((x) => x.name.endsWith("-postgres-role-role"))!;
        assert.match(role.inputs.delete, /DROP ROLE IF EXISTS/);
    });
});

describe("staging and production on one shared VPS", () => {
    let shared: Record<string, RunResult> = {};
    before(async () => {
        shared = {};
        for (const s of STACKS) {
            const prod = stackConfig("production").values;
            shared[s] = await runProgram(
                stackConfig(s, { "berth:host": "203.0.113.50", "berth:hostKey": prod["berth:hostKey"], "berth:hostIpv6": "" }),
            );
            assert.equal(shared[s].error, undefined, shared[s].error?.message);
        }
    });

    function onHost(r: RunResult): Map<string, string> {
        const out = new Map<string, string>();
        const add = (what: string, res: Recorded) => out.set(what, res.name);
        for (const res of r.resources) {
            if (res.type.startsWith("docker:index/") && res.type !== "docker:index/remoteImage:RemoteImage") {
                add(`docker name ${unwrap(res.inputs.name)}`, res);
            }
            for (const p of unwrap(res.inputs.ports) ?? []) add(`port ${p.external}`, res);
            if (res.type === CMD) {
                for (const k of ["create", "delete"]) {
                    for (const m of String(res.inputs[k] ?? "").matchAll(/\/(?:etc|srv|var)\/[A-Za-z0-9._\/@-]+/g)) {
                        add(`path ${m[0]}`, res);
                    }
                }
            }
        }
        return out;
    }

    test("containers, volumes, networks, ports and files never collide", () => {
        const a = onHost(shared.staging);
        const b = onHost(shared.production);
        const SHARED_HOST_FILES = [
            /^path \/etc\/apt\/apt\.conf\.d\/20auto-upgrades/,
            /^path \/srv\/berth$/,
            /^path \/etc\/berth$/,
            /^path \/etc\/ssh\/sshd_config\.d$/,
            /^path \/var\/www\/berth-acme$/, // parents of per-stack directories
            /^path \/etc\/nginx\/berth$/,
            /^path \/etc\/berth-(postgres-password|redis\.conf)$/, // inside each container
            // Host-wide nginx hardening: the same text from every stack (no stack in it).
            /^path \/etc\/systemd\/system\/nginx\.service\.d(\/50-berth-hardening\.conf(\.berth\.XXXXXX)?)?$/,
            /^path \/etc\/nginx\/conf\.d(\/50-berth-hardening\.conf(\.berth\.XXXXXX)?)?$/,
            /^path \/etc\/nginx\/nginx\.conf$/, // the distribution's: its server_tokens line
            /^path \/etc\/os-release$/, // read by every step that installs packages
            /^path \/etc\/systemd\/system$/, // searched (find) for a process type's enabled instances, never written as such
            /^path \/var\/(log|lib)\/nginx$/,
            // Host-wide system hardening (lib/hostHardening.ts, no stack in it: the same text from every stack).
            ...Object.values(HOST_HARDENING).map((f) => new RegExp(`^path ${f.replace(/[.\/]/g, "\\$&")}(\\.berth\\.XXXXXX)?$`)),
            /^path \/etc\/(sysctl\.d|modprobe\.d|systemd\/coredump\.conf\.d|security\/limits\.d|profile\.d)$/,
        ];
        const collisions = [...a.keys()].filter((k) => b.has(k) && !SHARED_HOST_FILES.some((re) => re.test(k)));
        assert.deepEqual(collisions, []);
        assert.ok([...a.keys()].some((k) => k.startsWith("port ")), "ports were collected");
        assert.ok([...a.keys()].some((k) => k.startsWith("path /srv/berth/shop-staging")), "paths were collected");
    });

    test("Postgres and Redis ports differ between the stacks", () => {
        const ports = (r: RunResult) => byType(r, CONTAINER).flatMap((c) => unwrap(c.inputs.ports).map((p: any) => p.external));
        const a = ports(shared.staging);
        const b = ports(shared.production);
        assert.equal(new Set([...a, ...b]).size, 4, `${a} vs ${b}`);
    });
});
