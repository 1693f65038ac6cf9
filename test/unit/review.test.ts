/**
 * Review apps (issue 20 item 2): `berth:review` validation, the stack file
 * `berth review up` writes for pr-<n> (names, ports, host name, database,
 * seed: disjoint from staging's), the cap's refusal, the seed script (golden,
 * shellcheck), the program of a review stack under mocks and the policy that
 * keeps review stacks off production hosts.
 */
import "./policy-env";
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import * as P from "../../policy/index";
import { parseConfig, type BerthConfig } from "../../lib/config";
import { capRefusal, openReviewStacks, reviewPortBase, reviewStackFile, sourcePorts, stackHosts } from "../../lib/review/stackFile";
import { parseReviewArgs } from "../../cli/commands/review";
import { seedDeleteScript, seedScript, reviewTrigger } from "../../components/data/reviewSeed";
import { certbotArgs } from "../../components/web/certificate";
import { siteScript, wildcardCoverLines } from "../../components/web/nginxSite";
import { execFileSync, spawnSync } from "node:child_process";
import * as os from "node:os";
import { script, withShebang } from "../../lib/shell";
import { configFrom, ROOT, runProgram, unwrap } from "./harness";
import { expectGolden, expectShellcheckClean } from "./golden";

const STAGING = fs.readFileSync(path.join(ROOT, "examples", "Pulumi.staging.yaml"), "utf8");
const PRODUCTION = fs.readFileSync(path.join(ROOT, "examples", "Pulumi.production.yaml"), "utf8");
const SALT = "v1:c2FsdHNhbHQ=:v1:bm9uY2Vub25jZW5v:Y2lwaGVydGV4dA==";

/** examples/Pulumi.staging.yaml as a user's file: review apps on, a salt and secure values (backup secrets, SSH keys). */
function stagingText(extra: Record<string, unknown> = {}): string {
    const doc = YAML.parse(STAGING);
    doc.encryptionsalt = SALT;
    const c = doc.config;
    c["berth:review"] = { domain: "review.shop.example.com", max: 2 };
    c["berth:privateKey"] = { secure: "v1:AAAA:privateKey" };
    c["berth:deployKey"] = { secure: "v1:AAAA:deployKey" };
    c["berth:backup"] = { ...c["berth:backup"], privateKey: { secure: "v1:AAAA:backupKey" }, password: { secure: "v1:AAAA:backupPassword" } };
    Object.assign(c, extra);
    return YAML.stringify(doc);
}

function parse(stack: string, text: string): { ok: true; config: BerthConfig } | { ok: false; errors: string[] } {
    const sc = configFrom(stack, YAML.parse(text).config);
    return parseConfig(sc.values, { project: "berth", stack, secretKeys: new Set(sc.secretKeys) });
}

function config(stack: string, text: string): BerthConfig {
    const r = parse(stack, text);
    if (!r.ok) throw new Error(r.errors.join("\n"));
    return r.config;
}

const SHA = "0123456789abcdef0123456789abcdef01234567";
const pr7 = () => reviewStackFile({ sourceText: stagingText(), source: "staging", project: "berth", pr: 7, sha: SHA, productionHosts: stackHosts(PRODUCTION, "berth") });

describe("review stack file (berth review up)", () => {
    test("pr-7: its own host name, revision, review facts; staging's backup becomes the seed; staging's operation state is not copied", () => {
        const r = pr7();
        const doc = YAML.parse(r.text);
        const c = doc.config;
        assert.equal(r.stack, "pr-7");
        assert.equal(doc.encryptionsalt, SALT, "the secrets provider's state is copied");
        assert.equal(c["berth:domain"], "pr-7.review.shop.example.com");
        assert.equal(c["berth:env"].APP_HOST, "pr-7.review.shop.example.com", "values naming staging's host name follow");
        assert.equal(c["berth:revision"], SHA);
        assert.deepEqual(c["berth:review"], { domain: "review.shop.example.com", max: 2, pr: 7, source: "staging", productionHosts: ["203.0.113.20"] });
        assert.equal(c["berth:backup"], undefined);
        assert.deepEqual(c["berth:reviewSeed"].password, { secure: "v1:AAAA:backupPassword" });
        assert.deepEqual(c["berth:privateKey"], { secure: "v1:AAAA:privateKey" });
        assert.equal(c["berth:postgres"].database, "shop_staging", "staging's database name: its dumps restore under their own names");
    });

    test("the same inputs make the same file (a second push changes nothing)", () => assert.equal(pr7().text, pr7().text));

    test("names and ports of pr-7 are disjoint from staging's", () => {
        const s = config("staging", stagingText());
        const p = config("pr-7", pr7().text);
        const hostNames = (c: BerthConfig) => Object.entries(c.names).filter(([k]) => k !== "dbIdentifier").map(([, v]) => v);
        const shared = hostNames(p).filter((v) => hostNames(s).includes(v));
        assert.deepEqual(shared, []);
        const ports = (c: BerthConfig) => Object.values(c.ports);
        assert.deepEqual(ports(p).filter((x) => ports(s).includes(x)), []);
        assert.equal(p.ports.postgres, reviewPortBase("shop", 7));
        assert.ok(p.ports.postgres >= 16000 && p.ports.webGreen < 20000);
        assert.equal(p.review?.pr, 7);
        assert.equal(p.backup, undefined);
        assert.equal(p.reviewSeed?.sftp.host, "backup.example.net");
        assert.equal(p.hostnames.includes("staging.shop.example.com"), false);
    });

    test("review slots of one app do not collide with each other for consecutive pull requests", () => {
        const bases = [1, 2, 3, 4, 5].map((n) => reviewPortBase("shop", n));
        assert.equal(new Set(bases).size, 5);
    });

    test("accessories: hand-set host ports dropped; one derived onto a staging port is moved", () => {
        const acc = { meili: { image: "getmeili/meilisearch:v1.8", port: 7700, urlEnv: "MEILI_URL", hostPort: 29001 } };
        const text = stagingText({ "berth:accessories": acc });
        const r = reviewStackFile({ sourceText: text, source: "staging", project: "berth", pr: 7, productionHosts: [] });
        const staging = sourcePorts({ sourceText: text, source: "staging", project: "berth" });
        assert.equal(staging.meili, 29001);
        assert.ok(!Object.values(staging).includes(r.ports.meili));
        assert.equal(YAML.parse(r.text).config["berth:accessories"].meili.hostPort, undefined);
    });

    test("refusals name what is missing", () => {
        const noReview = YAML.parse(stagingText());
        delete noReview.config["berth:review"];
        assert.throws(() => reviewStackFile({ sourceText: YAML.stringify(noReview), source: "staging", project: "berth", pr: 7, productionHosts: [] }), /berth:review\.domain is not set in Pulumi\.staging\.yaml/);
        const noSalt = YAML.parse(stagingText());
        delete noSalt.encryptionsalt;
        assert.throws(() => reviewStackFile({ sourceText: YAML.stringify(noSalt), source: "staging", project: "berth", pr: 7, productionHosts: [] }), /no encryptionsalt or secretsprovider/);
        assert.throws(() => reviewStackFile({ sourceText: stagingText(), source: "staging", project: "berth", pr: 0, productionHosts: [] }), /not a pull request number/);
    });
});

describe("berth:review validation", () => {
    test("a review stack on a production host is refused, naming the host", () => {
        const r = reviewStackFile({ sourceText: stagingText(), source: "staging", project: "berth", pr: 7, productionHosts: ["203.0.113.10"] });
        const res = parse("pr-7", r.text);
        assert.equal(res.ok, false);
        assert.deepEqual(!res.ok && res.errors.filter((e) => e.startsWith("berth:review")), ["berth:review.productionHosts: host main (203.0.113.10) runs production; review stacks run on staging's hosts only"]);
    });
    test("pr must match the stack, the domain must be pr-<n>.<review.domain>, never production; reviewSeed only on a review stack", () => {
        const doc = YAML.parse(pr7().text);
        const res = parse("pr-8", YAML.stringify(doc));
        assert.ok(!res.ok && res.errors.includes('berth:review.pr: 7 is for the stack pr-7, not "pr-8"'));
        doc.config["berth:domain"] = "other.example.com";
        doc.config["berth:production"] = true;
        const res2 = parse("pr-7", YAML.stringify(doc));
        assert.ok(!res2.ok);
        assert.ok(!res2.ok && res2.errors.includes('berth:domain: a review stack is served at pr-7.review.shop.example.com (berth:review.domain), not "other.example.com"'));
        assert.ok(!res2.ok && res2.errors.includes("berth:review.pr: a review stack is never production (remove berth:production)"));
        const seedOnStaging = YAML.parse(stagingText());
        seedOnStaging.config["berth:reviewSeed"] = seedOnStaging.config["berth:backup"];
        const res3 = parse("staging", YAML.stringify(seedOnStaging));
        assert.ok(!res3.ok && res3.errors.some((e) => e.startsWith("berth:reviewSeed: only a review stack")));
    });
    test("staging with berth:review parses (max defaults to 3)", () => {
        const doc = YAML.parse(stagingText());
        doc.config["berth:review"] = { domain: "review.shop.example.com" };
        assert.deepEqual(config("staging", YAML.stringify(doc)).review, { domain: "review.shop.example.com", max: 3, certificate: "own", pr: undefined, source: undefined, productionHosts: [] });
    });
});

describe("the cap (berth:review.max)", () => {
    test("open review stacks among the backend's stacks", () => assert.deepEqual(openReviewStacks(["staging", "org/pr-12", "pr-3", "production", "pr-x"]), [3, 12]));
    test("under the cap, or already open: allowed", () => {
        assert.equal(capRefusal(4, [1, 2], 3), undefined);
        assert.equal(capRefusal(2, [1, 2, 3], 3), undefined);
    });
    test("at the cap: refused, naming the open ones", () => {
        assert.equal(
            capRefusal(9, [7], 1),
            "berth: review stack pr-9 refused: berth:review.max is 1 and 1 is open (pr-7); close one (berth review down <n>, or close its pull request) or raise berth:review.max",
        );
        assert.match(capRefusal(4, [1, 2, 3], 3)!, /3 are open \(pr-1, pr-2, pr-3\)/);
    });
    test("arguments", () => {
        assert.deepEqual(parseReviewArgs(["up", "7", "--sha", SHA]), { action: "up", pr: 7, source: "staging", sha: SHA });
        assert.deepEqual(parseReviewArgs(["down", "7"]), { action: "down", pr: 7, source: "staging" });
        assert.throws(() => parseReviewArgs(["up", "07"]), /not a pull request number/);
        assert.throws(() => parseReviewArgs(["up", "7", "--sha", "main"]), /full 40-hex commit sha/);
        assert.throws(() => parseReviewArgs(["down", "7", "--sha", SHA]), /unexpected "--sha"/);
    });
});

describe("the seed (components/data/reviewSeed.ts)", () => {
    test("golden, shellcheck-clean: staging's repository and host id, this stack's container, role and cache", () => {
        const text = withShebang(seedScript(config("pr-7", pr7().text)));
        expectGolden("review/seed.sh", text);
        expectShellcheckClean("review seed", text);
        assert.match(text, /--host shop-staging/);
        assert.match(text, /--cache-dir \/var\/cache\/berth\/shop-pr-7\/restic/);
        assert.match(text, /--password-file \/etc\/berth\/shop-staging\/backup\/password/);
        assert.match(text, /docker exec -i shop-pr-7-postgres pg_restore .*--role=shop_pr_7/);
    });
    test("delete: the stack's restic cache and its sockets' runtime directory, nothing of staging", () => {
        const text = withShebang(seedDeleteScript(config("pr-7", pr7().text)));
        expectShellcheckClean("review seed delete", text);
        assert.match(text, /^rm -rf -- \/var\/cache\/berth\/shop-pr-7 \/run\/berth-shop-pr-7$/m);
        assert.doesNotMatch(text, /staging/);
    });
    test("without staging's backup: nothing restored, said so", () => {
        const doc = YAML.parse(pr7().text);
        delete doc.config["berth:reviewSeed"];
        assert.match(seedScript(config("pr-7", YAML.stringify(doc))), /nothing to restore/);
    });
});

describe("a review stack under mocks, and the policy", () => {
    test("pr-7: a ReviewSeed before the release command, no Backup; the pack's review-not-on-production passes; a production host fails it", async () => {
        const sc = configFrom("pr-7", YAML.parse(pr7().text).config);
        const r = await runProgram(sc);
        assert.equal(r.error, undefined);
        const types = r.resources.map((x) => x.type);
        assert.ok(types.includes("berth:data:ReviewSeed"));
        assert.ok(!types.includes("berth:data:Backup"));
        const seed = r.resources.find((x) => x.type === "command:remote:Command" && x.name.endsWith("review-seed-restore"))!;
        assert.ok(seed, r.resources.map((x) => x.name).join(" "));
        const release = r.resources.find((x) => x.type === "command:remote:Command" && /release-command$|migrate$/.test(x.name));
        if (release) assert.ok(release.dependsOn.some((d) => d.endsWith("review-seed-restore")), release.dependsOn.join(" "));
        const resources = r.resources.map((x) => ({ type: x.type, name: x.name, props: unwrap(x.inputs) }));
        const out: string[] = [];
        P.reviewNotOnProduction({ resources } as any, (m) => out.push(m));
        assert.deepEqual(out, []);
        const t = resources.find((x) => x.name === seed.name)!;
        t.props.triggers[0].productionHosts = ["203.0.113.10"];
        const bad: string[] = [];
        P.reviewNotOnProduction({ resources } as any, (m) => bad.push(m));
        assert.equal(bad.length, 1);
        assert.match(bad[0], /review stack shop-pr-7 \(pull request 7\) targets 203\.0\.113\.10, a host of the production stack/);
    });
    test("the trigger carries the review facts", () => assert.deepEqual(reviewTrigger({ app: "shop", stack: "pr-7", review: { domain: "d", max: 3, certificate: "own", pr: 7, source: "staging", productionHosts: ["203.0.113.20"] } }), { kind: "berth-review", app: "shop", stack: "pr-7", pr: 7, source: "staging", productionHosts: ["203.0.113.20"] }));
    test("staging is not a review stack: the policy has nothing to judge", async () => {
        const out: string[] = [];
        P.reviewNotOnProduction({ resources: [{ type: "command:remote:Command", name: "x", props: { connection: { host: "203.0.113.10" } } }] } as any, (m) => out.push(m));
        assert.deepEqual(out, []);
    });
});

describe("berth:review.certificate wildcard: staging's certificate covers *.<review domain>, review stacks serve it", () => {
    const wildcard = () =>
        stagingText({
            "berth:review": { domain: "review.shop.example.com", max: 2, certificate: "wildcard" },
            "berth:acme": { ...YAML.parse(STAGING).config["berth:acme"], challenge: "dns-01" },
            "berth:dns01": { authHook: { secure: "v1:AAAA:auth" }, cleanupHook: { secure: "v1:AAAA:cleanup" } },
        });
    const prFile = () => reviewStackFile({ sourceText: wildcard(), source: "staging", project: "berth", pr: 7, sha: SHA, productionHosts: stackHosts(PRODUCTION, "berth") });

    test("over HTTP-01 it is refused, naming the key (a CA validates a wildcard over DNS only)", () => {
        const doc = YAML.parse(wildcard());
        delete doc.config["berth:acme"].challenge;
        const r = parse("staging", YAML.stringify(doc));
        assert.ok(!r.ok && r.errors.some((e) => e.startsWith("berth:review.certificate: wildcard needs DNS-01 on this stack")), JSON.stringify(r));
    });
    test("staging requests its names and *.<review domain> in one lineage; its site still serves only its own names", () => {
        const cfg = config("staging", wildcard());
        const args = certbotArgs(cfg);
        const ds = args.flatMap((a, i) => (args[i - 1] === "-d" ? [a] : []));
        assert.deepEqual(ds, [...cfg.hostnames, "*.review.shop.example.com"]);
        assert.equal(cfg.certificate.from, undefined);
        assert.ok(!cfg.hostnames.includes("*.review.shop.example.com"), "server_name is not widened");
    });
    test("pr-7 serves staging's lineage (names from staging's own config) and has no Certificate; its site checks the cover first", async () => {
        const staging = config("staging", wildcard());
        const doc = YAML.parse(prFile().text);
        assert.equal(doc.config["berth:review"].certificate, "wildcard", "berth review up copies the choice");
        const pr = config("pr-7", prFile().text);
        assert.deepEqual(pr.certificate, { lineage: staging.names.certName, from: "staging", domains: ["pr-7.review.shop.example.com"] });
        const r = await runProgram(configFrom("pr-7", doc.config));
        assert.equal(r.error, undefined);
        assert.ok(!r.resources.some((x) => x.type === "berth:web:Certificate"), "no certificate of its own");
        const https = r.resources.find((x) => x.type === "command:remote:Command" && x.name.endsWith("site-https-https"));
        assert.ok(https, r.resources.map((x) => x.name).join(" "));
        const create = String(unwrap(https.inputs).create);
        assert.ok(create.includes(`/etc/letsencrypt/live/${staging.names.certName}/fullchain.pem`), "the site serves staging's lineage");
        assert.ok(create.includes("-checkhost pr-7.review.shop.example.com"));
    });
    test("an open review stack switching own -> wildcard: its Certificate is removed, its HTTPS site moves to staging's lineage (the engine deletes removed resources after every update)", async () => {
        const own = YAML.parse(reviewStackFile({ sourceText: stagingText(), source: "staging", project: "berth", pr: 7, sha: SHA, productionHosts: stackHosts(PRODUCTION, "berth") }).text).config;
        const wild = YAML.parse(prFile().text).config;
        const [a, b] = [await runProgram(configFrom("pr-7", own)), await runProgram(configFrom("pr-7", wild))];
        assert.equal(a.error ?? b.error, undefined);
        const certs = (r: typeof a) => r.resources.filter((x) => x.type === "berth:web:Certificate" || x.name.endsWith("-certbot")).map((x) => x.name);
        assert.deepEqual(certs(a), ["shop-pr-7-certificate", "shop-pr-7-certificate-certbot"]);
        assert.deepEqual(certs(b), [], "removed: its delete (certbot delete of shop-pr-7's own lineage) runs at the end of the up");
        const site = (r: typeof a) => String(unwrap(r.resources.find((x) => x.name.endsWith("site-https-https"))!.inputs).create);
        assert.ok(site(a).includes("/etc/letsencrypt/live/berth-shop-pr-7/fullchain.pem"));
        assert.ok(site(b).includes("/etc/letsencrypt/live/berth-shop-staging/fullchain.pem") && !site(b).includes("berth-shop-pr-7/"), "the site no longer names the lineage that delete removes");
    });
    test("the cover check under bash: a certificate with the wildcard passes; one without stops the site, naming the stack and the key", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-wildcard-"));
        try {
            const pr = config("pr-7", prFile().text);
            const make = (san: string) => {
                const out = path.join(dir, "cert.pem");
                execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path.join(dir, "key.pem"), "-out", out, "-subj", "/CN=t", "-addext", `subjectAltName=${san}`, "-days", "1"], { stdio: "ignore" });
                return out;
            };
            const run = (cert: string) => {
                const text = script(wildcardCoverLines(pr)).replaceAll(`/etc/letsencrypt/live/${pr.certificate.lineage}/fullchain.pem`, cert);
                return spawnSync("bash", ["-c", text], { encoding: "utf8" });
            };
            assert.equal(run(make("DNS:staging.shop.example.com,DNS:*.review.shop.example.com")).status, 0);
            const bad = run(make("DNS:staging.shop.example.com"));
            assert.equal(bad.status, 1);
            assert.match(bad.stderr, /does not cover pr-7\.review\.shop\.example\.com: set berth:review\.certificate wildcard on staging/);
            assert.ok(siteScript(pr, "full").includes(wildcardCoverLines(pr).flat(3)[0] as string));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
