/**
 * Set-up (README "Set-up for your own stacks"): the committed example stack
 * files hold nothing the passphrase secrets manager would trip over, and
 * `berth init` (cli/commands/init.ts) writes a stack file the program accepts once
 * the secrets it prints are set. ssh-keyscan is a parameter: a fake answers.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { parseConfig } from "../../lib/config";
import { appFromRepository, fingerprint, init, InitOptions, InitUsageError, Keyscan } from "../../cli/commands/init";
import { sshEndpoint } from "../../lib/revision";
import { configFrom, ROOT, secretCommandKeys, withUserSecrets } from "./harness";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID/OkqO5A1NNS+H5MK5fHskty1lNvmdXYIlpgLQpTTDi";
const GIT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const RSA_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAACaurq6urq6urqw==";

/** A fake ssh-keyscan: `answers[host]` lines as the real one prints them ("host type base64"), recording its calls. */
function fakeKeyscan(answers: Record<string, string[]>): Keyscan & { calls: [string, number][] } {
    const calls: [string, number][] = [];
    const f = ((host: string, port: number) => {
        calls.push([host, port]);
        const who = port === 22 ? host : `[${host}]:${port}`;
        return (answers[host] ?? []).map((k) => `${who} ${k}\n`).join("");
    }) as Keyscan & { calls: [string, number][] };
    f.calls = calls;
    return f;
}

function tmpRoot(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "berth-init-"));
    process.once("exit", () => fs.rmSync(d, { recursive: true, force: true }));
    return d;
}

const STAGING: InitOptions = { stack: "staging", host: "203.0.113.10", domain: "staging.shop.example.com", repository: "git@github.com:example-co/shop.git", yes: true };
const KEYS = { "203.0.113.10": [HOST_KEY], "github.com": [GIT_KEY] };

/** The written file, configured the way the printed `pulumi config set --secret` lines configure it, through parseConfig. */
function parsePrinted(file: string, printed: string[], stack: string) {
    const doc = YAML.parse(fs.readFileSync(file, "utf8"));
    const sc = configFrom(stack, withUserSecrets(doc.config, secretCommandKeys(printed.filter((l) => !l.trimStart().startsWith("#")).join("\n"))));
    return parseConfig(sc.values, { project: "berth", stack, secretKeys: new Set(sc.secretKeys) });
}

// berth's example stacks (the top-level files start as copies of them and are the user's: with
// their own salt and secrets once they run `pulumi stack init` and `config set --secret`).
describe("the committed example stack files", () => {
    for (const file of [...fs.readdirSync(path.join(ROOT, "examples")).filter((f) => /^Pulumi\..*\.yaml$/.test(f)).map((f) => `examples/${f}`)]) {
        test(`${file} holds no encryptionsalt and no secure: value`, () => {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            const doc = YAML.parse(text);
            assert.equal(doc.encryptionsalt, undefined, "an encryptionsalt made with another passphrase fails the user's first secret");
            assert.equal(doc.secretsprovider, undefined);
            assert.equal(doc.encryptedkey, undefined);
            const secure: string[] = [];
            const walk = (v: unknown, at: string) => {
                if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) (k === "secure" ? secure.push(at) : walk(x, `${at}.${k}`));
            };
            walk(doc, "");
            assert.deepEqual(secure, []);
            assert.doesNotMatch(text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n"), /secure:|encryptionsalt/);
        });
    }
});

describe("berth init", () => {
    test("writes a staging stack file parseConfig accepts once the printed secrets are set, and only then", async () => {
        const root = tmpRoot();
        const keyscan = fakeKeyscan(KEYS);
        const r = await init(STAGING, root, keyscan, undefined);
        assert.equal(r.file, path.join(root, "Pulumi.staging.yaml"));
        assert.deepEqual(keyscan.calls, [["203.0.113.10", 22], ["github.com", 22]]);
        const text = fs.readFileSync(r.file, "utf8");
        assert.doesNotMatch(text.split("\n").filter((l) => !l.startsWith("#")).join("\n"), /encryptionsalt|secure:/);
        assert.ok(text.split("\n").includes(`  berth:hostKey: ${HOST_KEY}`), "one line, as written by hand");

        const without = parsePrinted(r.file, [], "staging");
        assert.ok(!without.ok);
        assert.ok(without.errors.some((e) => e.startsWith("berth:privateKey")), without.errors.join("\n"));
        assert.ok(without.errors.some((e) => e.startsWith("berth:deployKey")), without.errors.join("\n"));

        const parsed = parsePrinted(r.file, r.text, "staging");
        assert.ok(parsed.ok, parsed.ok ? "" : parsed.errors.join("\n"));
        const c = parsed.config;
        assert.equal(c.app, "shop", "the app name defaults to the repository's");
        assert.equal(c.host.address, "203.0.113.10");
        assert.equal(c.host.hostKey, HOST_KEY);
        assert.equal(c.release.repositoryHostKey, GIT_KEY);
        assert.equal(c.release.revision, "main");
        assert.equal(c.dns.zone, "example.com");

        // Each printed step is the exact command, followed by its one-line reason.
        const cmds = r.text.filter((l) => /^ {2}pulumi /.test(l)).map((l) => l.trim());
        assert.deepEqual(cmds, [
            "pulumi stack init staging --secrets-provider passphrase",
            "pulumi config set --secret privateKey -s staging < ~/.ssh/berth_ed25519",
            "pulumi config set --secret deployKey -s staging < ~/.ssh/shop_deploy_key",
            "pulumi config set --secret cloudflare:apiToken -s staging",
            "pulumi config set --secret --path 'secretEnv.NAME' -s staging",
            "pulumi preview --diff -s staging",
        ]);
        r.text.forEach((l, i) => {
            if (/^ {2}pulumi /.test(l)) assert.match(r.text[i + 1] ?? "", /^ {6}# \S/, `no reason under ${l}`);
        });
        assert.ok(r.text.some((l) => l.includes(fingerprint(HOST_KEY))), "the pinned key's fingerprint is shown to compare");
    });

    test("production: the host key is pinned and the revision must be a sha or a tag", async () => {
        const root = tmpRoot();
        const prod = { ...STAGING, stack: "production", domain: "shop.example.com" };
        await assert.rejects(init(prod, root, fakeKeyscan(KEYS), undefined), (e: Error) => e instanceof InitUsageError && /--revision/.test(e.message));
        await assert.rejects(init({ ...prod, revision: "main" }, root, fakeKeyscan(KEYS), undefined), /can move; production needs a full commit sha or a tag/);
        assert.ok(!fs.existsSync(path.join(root, "Pulumi.production.yaml")), "nothing written on a refusal");

        const sha = "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8";
        const r = await init({ ...prod, revision: sha }, root, fakeKeyscan(KEYS), undefined);
        const parsed = parsePrinted(r.file, r.text, "production");
        assert.ok(parsed.ok, parsed.ok ? "" : parsed.errors.join("\n"));
        assert.equal(parsed.config.production, true);
        assert.equal(parsed.config.host.hostKey, HOST_KEY);
        assert.equal(parsed.config.release.revision, sha);
        assert.ok(parsed.config.release.revisionIsImmutable);
        const tagged = await init({ ...prod, revision: "v1.4.2", force: true }, root, fakeKeyscan(KEYS), undefined);
        assert.equal(YAML.parse(fs.readFileSync(tagged.file, "utf8")).config["berth:revision"], "v1.4.2");
    });

    test("a host that offers only an ssh-rsa key is refused (as berth:hostKey refuses it), nothing is written", async () => {
        const root = tmpRoot();
        await assert.rejects(init(STAGING, root, fakeKeyscan({ ...KEYS, "203.0.113.10": [RSA_KEY] }), undefined), /203\.0\.113\.10 offers only ssh-rsa host keys, which berth refuses to pin/);
        await assert.rejects(init(STAGING, root, fakeKeyscan({ "github.com": [GIT_KEY] }), undefined), /returned no host key/);
        assert.deepEqual(fs.readdirSync(root), []);
        // Garbage is not a key: a blob that does not encode its type.
        await assert.rejects(init(STAGING, root, fakeKeyscan({ ...KEYS, "203.0.113.10": ["ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAACaurq6urq6urqw=="] }), undefined), /returned no host key/);
    });

    test("the git server's key is pinned from the URL's host and port; https repositories need neither it nor a deploy key", async () => {
        assert.deepEqual(sshEndpoint("ssh://git@git.example.net:2222/srv/shop.git"), { host: "git.example.net", port: 2222 });
        assert.deepEqual(sshEndpoint("git@github.com:example-co/shop.git"), { host: "github.com", port: 22 });
        assert.equal(sshEndpoint("https://github.com/example-co/shop.git"), undefined);

        const root = tmpRoot();
        const keyscan = fakeKeyscan({ ...KEYS, "git.example.net": [GIT_KEY] });
        const r = await init({ ...STAGING, repository: "ssh://git@git.example.net:2222/srv/shop.git" }, root, keyscan, undefined);
        assert.deepEqual(keyscan.calls[1], ["git.example.net", 2222]);
        assert.ok(parsePrinted(r.file, r.text, "staging").ok);

        const https = tmpRoot();
        const k2 = fakeKeyscan(KEYS);
        const h = await init({ ...STAGING, repository: "https://github.com/example-co/shop.git", dns: false }, https, k2, undefined);
        assert.deepEqual(k2.calls, [["203.0.113.10", 22]]);
        const cmds = h.text.filter((l) => /^ {2}pulumi config set/.test(l)).join("\n");
        assert.doesNotMatch(cmds, /deployKey|cloudflare:apiToken/, "no deploy key for https, no token with berth:dns false");
        const parsed = parsePrinted(h.file, h.text, "staging");
        assert.ok(parsed.ok, parsed.ok ? "" : parsed.errors.join("\n"));
        assert.equal(parsed.config.dns.enabled, false);
        assert.equal(parsed.config.release.repositoryHostKey, undefined);
    });

    test("never overwrites a stack file; --force edits it, keeping its salt, its secrets and its other keys", async () => {
        const root = tmpRoot();
        const file = path.join(root, "Pulumi.staging.yaml");
        fs.writeFileSync(
            file,
            [
                "encryptionsalt: v1:c2FsdA==:v1:abc:def",
                "config:",
                "  berth:app: shop",
                "  berth:host: 198.51.100.7",
                "  berth:domain: old.shop.example.com",
                "  berth:repository: https://github.com/example-co/shop.git",
                "  # the payment provider",
                "  berth:env:",
                "    RAILS_LOG_LEVEL: debug",
                "  berth:privateKey:",
                "    secure: v1:abc:def",
                "",
            ].join("\n"),
        );
        const before = fs.readFileSync(file, "utf8");
        await assert.rejects(init(STAGING, root, fakeKeyscan(KEYS), undefined), /exists; --force edits it/);
        assert.equal(fs.readFileSync(file, "utf8"), before);

        const r = await init({ ...STAGING, force: true }, root, fakeKeyscan(KEYS), undefined);
        const text = fs.readFileSync(file, "utf8");
        const doc = YAML.parse(text);
        assert.equal(doc.encryptionsalt, "v1:c2FsdA==:v1:abc:def");
        assert.deepEqual(doc.config["berth:privateKey"], { secure: "v1:abc:def" });
        assert.deepEqual(doc.config["berth:env"], { RAILS_LOG_LEVEL: "debug" });
        assert.match(text, /# the payment provider/);
        assert.equal(doc.config["berth:host"], "203.0.113.10");
        assert.equal(doc.config["berth:domain"], "staging.shop.example.com");
        const cmds = r.text.filter((l) => /^ {2}pulumi /.test(l)).join("\n");
        assert.doesNotMatch(cmds, /stack init/, "the file has a salt: the stack exists");
        assert.doesNotMatch(cmds, /privateKey/, "already set");
        assert.match(cmds, /--secret deployKey/);
    });

    test("asks on a terminal, offering the repository's name as the app name", async () => {
        const root = tmpRoot();
        const asked: [string, string | undefined][] = [];
        const answers: Record<string, string> = { Host: "203.0.113.10", Domain: "www.shop-app.example.org", Git: "git@github.com:example-co/Shop_App.git" };
        const ask = async (q: string, def?: string) => {
            asked.push([q, def]);
            return answers[q.split(" ")[0]] ?? def;
        };
        const r = await init({ stack: "staging" }, root, fakeKeyscan(KEYS), ask);
        assert.deepEqual(
            asked.map(([q, d]) => [q.split(" ")[0], d]),
            [
                ["Host", undefined],
                ["Domain", undefined],
                ["Git", undefined],
                ["App", "shop-app"],
                ["Cloudflare", "example.org"],
                ["Revision", "main"],
            ],
        );
        assert.ok(parsePrinted(r.file, r.text, "staging").ok);
        assert.equal(appFromRepository("ssh://git@host/srv/9lives.git"), "lives");
        assert.equal(appFromRepository("https://example.com/a/a-very-long-repository-name-indeed"), "a-very-long-reposito");
    });

    test("without a terminal every missing answer is named", async () => {
        await assert.rejects(init({ stack: "staging", domain: "x.example.com" }, tmpRoot(), fakeKeyscan(KEYS), undefined), /--host is needed/);
        await assert.rejects(init({ ...STAGING, host: "example.com" }, tmpRoot(), fakeKeyscan(KEYS), undefined), /--host "example.com": is not an IPv4 address/);
        await assert.rejects(init({ ...STAGING, zone: "other.org" }, tmpRoot(), fakeKeyscan(KEYS), undefined), /does not contain staging\.shop\.example\.com/);
    });
});
