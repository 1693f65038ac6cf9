/**
 * Certificates over DNS-01 (components/web/certificate.ts): golden text and a
 * clean shellcheck for both ways (Cloudflare's plugin, the user's hooks), the
 * http-01 path unchanged, certbot's flags, secrets only on stdin (never in
 * the script, argv or a non-secret input), and the scripts run for real by
 * bash in a sandbox (host paths moved under a temporary root, certbot and
 * the system tools stubbed): file modes, hooks run with certbot's
 * environment, idempotence, the switch between ways, the identity guard of
 * the delete.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfig, parseConfig } from "../../lib/config";
import { withShebang } from "../../lib/shell";
import { dns01Paths } from "../../lib/names";
import * as cert from "../../components/web/certificate";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor, isSecretWrapped, plainStrings, stackConfig } from "./harness";

const TOKEN = "berthTestCfToken_0123456789abcdefXYZ";
/** The e2e hooks (test/e2e/host/acme.sh prove-dns), with a test address. */
const AUTH_HOOK = 'curl -fsS -d "{\\"host\\":\\"_acme-challenge.${CERTBOT_DOMAIN}.\\",\\"value\\":\\"${CERTBOT_VALIDATION}\\"}" http://192.0.2.1:8055/set-txt';
const CLEANUP_HOOK = 'curl -fsS -d "{\\"host\\":\\"_acme-challenge.${CERTBOT_DOMAIN}.\\"}" http://192.0.2.1:8055/clear-txt';
const OWNER = "shop-staging-certificate-certbot";
const FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBberthTestPrivateAcmeCaNotARealCertificate0123456789abcdefABCDEF\n-----END CERTIFICATE-----\n";

/** A stack file's config with dns-01 and the given (secret) berth:dns01. */
function dnsConfig(stack: string, dns01: Record<string, string>, acme: Record<string, unknown> = {}): BerthConfig {
    const sc = stackConfig(stack, { "berth:acme": { email: "ops@shop.example.com", challenge: "dns-01", ...acme } });
    const values = { ...sc.values, "berth:dns01": JSON.stringify(dns01) };
    const r = parseConfig(values, { project: "berth", stack, secretKeys: new Set([...sc.secretKeys, "berth:dns01"]) });
    if (!r.ok) throw new Error(r.errors.join("\n"));
    return r.config;
}

const cloudflare = dnsConfig("staging", { cloudflareApiToken: TOKEN });
const hooks = dnsConfig("staging", { authHook: AUTH_HOOK, cleanupHook: CLEANUP_HOOK });
const SECRETS = [TOKEN, AUTH_HOOK, CLEANUP_HOOK];

describe("dns-01 certificate scripts: golden text and shellcheck", () => {
    const scripts: Record<string, string> = {
        "certificate-cloudflare.sh": cert.certificateScript(cloudflare, OWNER),
        "certificate-hooks.sh": cert.certificateScript(hooks, OWNER),
    };
    for (const [file, text] of Object.entries(scripts)) {
        test(file, () => {
            expectGolden(`dns01/${file}`, text);
            expectShellcheckClean(`dns01/${file}`, withShebang(text));
        });
    }
    const others: Record<string, string> = {
        "delete (hooks)": cert.certificateDeleteScript(hooks, OWNER),
        "delete (cloudflare, production)": cert.certificateDeleteScript(dnsConfig("production", { cloudflareApiToken: TOKEN }), OWNER),
        "cloudflare, production": cert.certificateScript(dnsConfig("production", { cloudflareApiToken: TOKEN }), OWNER),
        "hooks with a private CA": cert.certificateScript(dnsConfig("staging", { authHook: AUTH_HOOK, cleanupHook: CLEANUP_HOOK }, { server: "https://acme.internal.example:14000/dir", caBundle: FAKE_CA }), OWNER),
    };
    for (const [label, text] of Object.entries(others)) {
        test(`shellcheck: ${label}`, () => expectShellcheckClean(label, withShebang(text)));
    }
    test("shellcheck fails on a broken variant (the check can fail)", () => {
        const broken = cert.certificateScript(hooks, OWNER).replace('"$DNS01_AUTH_HOOK"', "$DNS01_AUTH_HOOK");
        assert.throws(() => expectShellcheckClean("broken", withShebang(broken)), /SC2086/);
    });
});

describe("http-01 stays as it was", () => {
    for (const stack of ["staging", "production"]) {
        test(`${stack}: the same script and delete script, byte for byte, whatever the owner`, () => {
            const cfg = configFor(stack);
            expectGolden(`${stack}/certificate.sh`, cert.certificateScript(cfg, OWNER));
            expectGolden(`${stack}/certificate-delete.sh`, cert.certificateDeleteScript(cfg, OWNER));
            assert.equal(cert.certificateScript(cfg, OWNER), cert.certificateScript(cfg));
        });
    }
    test("no stdin, webroot flags, no dns01 files", () => {
        const cfg = configFor("staging");
        assert.equal(cfg.acme.challenge, "http-01");
        assert.equal(cert.dns01Method(cfg), undefined);
        assert.equal(cert.dns01Stdin(cfg), undefined);
        assert.deepEqual(cert.certbotArgs(cfg).slice(0, 4), ["certonly", "--webroot", "-w", cfg.names.webroot]);
        assert.doesNotMatch(cert.certificateScript(cfg), /read -r|dns01/);
    });
});

describe("certbot's flags", () => {
    const common = (args: string[], cfg: BerthConfig) => {
        const s = args.join(" ");
        assert.ok(s.includes(`--cert-name ${cfg.names.certName} -d staging.shop.example.com --non-interactive --agree-tos -m ops@shop.example.com --no-eff-email --server ${cfg.acme.server} --expand --deploy-hook systemctl reload nginx`), s);
        assert.ok(!args.includes("--webroot") && !args.includes("-w"));
    };
    test("Cloudflare: the plugin, its credentials file and the propagation wait", () => {
        const args = cert.certbotArgs(cloudflare);
        const p = dns01Paths(cloudflare);
        assert.deepEqual(args.slice(0, 6), ["certonly", "--dns-cloudflare", "--dns-cloudflare-credentials", p.cloudflareCredentials, "--dns-cloudflare-propagation-seconds", String(cert.CLOUDFLARE_PROPAGATION_SECONDS)]);
        common(args, cloudflare);
        assert.match(cert.certificateScript(cloudflare, OWNER), /^certbot certonly --dns-cloudflare .* "\$policy"$/m);
    });
    test("hooks: the manual plugin, dns challenges, the two installed scripts", () => {
        const args = cert.certbotArgs(hooks);
        const p = dns01Paths(hooks);
        assert.deepEqual(args.slice(0, 8), ["certonly", "--manual", "--preferred-challenges", "dns", "--manual-auth-hook", p.authHook, "--manual-cleanup-hook", p.cleanupHook]);
        common(args, hooks);
    });
    test("the renewal conf entries that identify each way", () => {
        assert.deepEqual(cert.renewalParams(hooks).map(([k]) => k), ["authenticator", "manual_auth_hook", "manual_cleanup_hook"]);
        assert.deepEqual(cert.renewalParams(cloudflare)[0], ["authenticator", "dns-cloudflare"]);
        assert.deepEqual(cert.renewalParams(configFor("staging")), [["authenticator", "webroot"]]);
    });
    test("the files live in the stack's root-only directory", () => {
        assert.deepEqual(dns01Paths(hooks), {
            dir: "/etc/berth/shop-staging/dns01",
            identity: "/etc/berth/shop-staging/dns01/identity",
            cloudflareCredentials: "/etc/berth/shop-staging/dns01/cloudflare.ini",
            authHook: "/etc/berth/shop-staging/dns01/auth-hook",
            cleanupHook: "/etc/berth/shop-staging/dns01/cleanup-hook",
        });
    });
});

describe("secrets only on stdin", () => {
    test("stdin carries the token, or the two hooks, one per line", () => {
        assert.equal(cert.dns01Stdin(cloudflare), `${TOKEN}\n`);
        assert.equal(cert.dns01Stdin(hooks), `${AUTH_HOOK}\n${CLEANUP_HOOK}\n`);
    });
    for (const [label, cfg] of [["cloudflare", cloudflare], ["hooks", hooks]] as const) {
        test(`${label}: no secret in the scripts or certbot's argv`, () => {
            const texts = [cert.certificateScript(cfg, OWNER), cert.certificateDeleteScript(cfg, OWNER), cert.certbotArgs(cfg).join(" "), JSON.stringify(cert.renewalParams(cfg))];
            for (const t of texts) for (const s of SECRETS) assert.ok(!t.includes(s), `a secret is in: ${t.slice(0, 80)}`);
        });
        test(`${label}: the secret variables are only read from stdin, checked, and printed by the printf builtin into the temp file`, () => {
            const s = cert.certificateScript(cfg, OWNER);
            const vars = label === "cloudflare" ? ["CLOUDFLARE_API_TOKEN"] : ["DNS01_AUTH_HOOK", "DNS01_CLEANUP_HOOK"];
            for (const v of vars) {
                const uses = s.split("\n").filter((l) => l.includes(v));
                assert.ok(uses.length >= 3, v);
                for (const l of uses) {
                    const ok =
                        l.startsWith(`IFS= read -r ${v} || `) ||
                        /^if (! \[\[|\[ -z )/.test(l) ||
                        (l.startsWith("printf ") && l.endsWith(`"$${v}" >"$tmp"`)) ||
                        (l.startsWith("printf 'dns_cloudflare_api_token = %s\\n' ") && l.endsWith('>"$tmp"'));
                    assert.ok(ok, `unexpected use of ${v}: ${l}`);
                }
            }
            assert.match(s, /^umask 077$/m);
            assert.ok(s.indexOf("umask 077") < s.indexOf("read -r"));
        });
    }
    test("modes: directory 0700, credentials 0600, hooks 0700, all root", () => {
        const c = cert.certificateScript(cloudflare, OWNER);
        assert.match(c, /^install -d -m 0700 -o root -g root \/etc\/berth\/shop-staging \/etc\/berth\/shop-staging\/dns01$/m);
        assert.match(c, /printf 'dns_cloudflare_api_token = %s\\n' "\$CLOUDFLARE_API_TOKEN" >"\$tmp"\nchmod 0600 "\$tmp"\n.*= '600 root:root' \]/);
        const h = cert.certificateScript(hooks, OWNER);
        assert.equal(h.match(/chmod 0700 "\$tmp"\n.*= '700 root:root' \]/g)?.length, 2);
    });

    /** The Certificate component under Pulumi's mocks: what it registers. */
    async function registered(cfg: BerthConfig): Promise<{ inputs: Record<string, any>; opts: pulumi.CustomResourceOptions }> {
        let inputs: Record<string, any> = {};
        let opts: pulumi.CustomResourceOptions = {};
        await pulumi.runtime.setMocks(
            {
                newResource(a) {
                    if (a.type === "command:remote:Command") inputs = a.inputs;
                    return { id: `${a.name}-id`, state: { ...a.inputs, stdout: "", stderr: "" } };
                },
                call: (a) => a.inputs,
            },
            "berth",
            "staging",
            false,
        );
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((a) => {
                if (a.type === "command:remote:Command") opts = a.opts as pulumi.CustomResourceOptions;
                return undefined;
            });
            new cert.Certificate("shop-staging-certificate", { ...cfg, connection: { host: "192.0.2.10", user: "root" }, dependsOn: [] });
            return {};
        });
        await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
        return { inputs, opts };
    }
    for (const [label, cfg] of [["cloudflare", cloudflare], ["hooks", hooks]] as const) {
        test(`${label}: the command's stdin is secret, it never logs, its output is secret, no input holds a secret in the clear`, async () => {
            const { inputs, opts } = await registered(cfg);
            assert.ok(isSecretWrapped(inputs.stdin), "stdin is not secret");
            assert.equal(inputs.logging, "none");
            assert.ok(["stdout", "stderr"].every((k) => opts.additionalSecretOutputs?.includes(k)), String(opts.additionalSecretOutputs));
            assert.equal(inputs.environment, undefined);
            for (const { path: at, value } of plainStrings(inputs)) {
                for (const s of SECRETS) assert.ok(!value.includes(s), `secret in the clear at ${at}`);
            }
            assert.ok(inputs.create.includes(`"owner":"${OWNER}"`), "the identity names the command");
            assert.ok(inputs.delete.includes(`"owner":"${OWNER}"`));
        });
    }
    test("http-01: no stdin, logs as before", async () => {
        const { inputs, opts } = await registered(configFor("staging"));
        assert.equal(inputs.stdin, undefined);
        assert.equal(inputs.logging, "stdoutAndStderr");
        assert.ok(!opts.additionalSecretOutputs?.includes("stdout") && !opts.additionalSecretOutputs?.includes("stderr"), String(opts.additionalSecretOutputs));
    });
});

// ---------------------------------------------------------------------------
// The scripts run by bash in a sandbox
// ---------------------------------------------------------------------------

const ROOT_ONLY = { skip: process.getuid?.() !== 0 ? "the scripts install files owned by root" : false };

/**
 * certbot as far as the scripts see it: records its argv, keeps an existing
 * lineage with --keep-until-expiring, otherwise runs the manual hooks with
 * CERTBOT_DOMAIN/CERTBOT_VALIDATION (or reads the Cloudflare credentials)
 * and writes the renewal conf in certbot 2.1.0's format (as written on a
 * Debian 12 VPS by acme.sh prove-dns). CERTBOT_FAIL=1 fails the issuance.
 */
const CERTBOT_STUB = String.raw`#!/bin/bash
printf '%s\n' "$*" >>"$SANDBOX/certbot.calls"
if [ "$1" = delete ]; then rm -rf "$SANDBOX/etc/letsencrypt/live/$3" "$SANDBOX/etc/letsencrypt/renewal/$3.conf"; echo "Deleted all files relating to certificate $3."; exit 0; fi
policy="${"$"}{!#}"
while [ $# -gt 0 ]; do
  case "$1" in
    --manual) auth=manual ;;
    --dns-cloudflare) auth=dns-cloudflare ;;
    --webroot) auth=webroot ;;
    --manual-auth-hook) ah=$2; shift ;;
    --manual-cleanup-hook) ch=$2; shift ;;
    --dns-cloudflare-credentials) cred=$2; shift ;;
    --dns-cloudflare-propagation-seconds) prop=$2; shift ;;
    -w) wr=$2; shift ;;
    --cert-name) name=$2; shift ;;
    -d) dom=$2; shift ;;
    --server) server=$2; shift ;;
  esac
  shift
done
conf="$SANDBOX/etc/letsencrypt/renewal/$name.conf"
if [ -f "$conf" ] && [ "$policy" = --keep-until-expiring ]; then echo "Certificate not yet due for renewal; no action taken."; exit 0; fi
if [ "${"$"}{CERTBOT_FAIL:-0}" = 1 ]; then echo "Some challenges have failed." >&2; exit 1; fi
case "$auth" in
  manual)
    CERTBOT_DOMAIN=$dom CERTBOT_VALIDATION=v4l1d "$ah" || exit 1
    CERTBOT_DOMAIN=$dom CERTBOT_VALIDATION=v4l1d CERTBOT_AUTH_OUTPUT= "$ch" || exit 1
    extra="pref_challs = dns-01,
manual_auth_hook = $ah
manual_cleanup_hook = $ch" ;;
  dns-cloudflare)
    cp "$cred" "$SANDBOX/credentials-seen-by-certbot"
    extra="dns_cloudflare_propagation_seconds = $prop
dns_cloudflare_credentials = $cred" ;;
  webroot)
    extra="webroot_path = $wr,
[[webroot_map]]
$dom = $wr" ;;
esac
mkdir -p "$SANDBOX/etc/letsencrypt/live/$name" "$SANDBOX/etc/letsencrypt/renewal"
printf '%s\n' "# renew_before_expiry = 30 days" "version = 2.1.0" "archive_dir = /etc/letsencrypt/archive/$name" "" "# Options used in the renewal process" "[renewalparams]" "account = b06c5896c70f250479012a0261948ba2" "renew_hook = systemctl reload nginx" "server = $server" "authenticator = $auth" "key_type = ecdsa" "$extra" >"$conf"
echo "Successfully received certificate."
`;

interface Sandbox {
    root: string;
    run(script: string, stdin?: string, env?: Record<string, string>): { status: number | null; out: string };
    read(p: string): string;
    exists(p: string): boolean;
    mode(p: string): string;
    calls(tool: string): string[];
    writeRenewal(cfg: BerthConfig, params: string[]): void;
}

const SANDBOXES: string[] = [];
process.once("exit", () => SANDBOXES.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function sandbox(opts: { pluginInstalled?: boolean } = {}): Sandbox {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-cert-"));
    SANDBOXES.push(root);
    const bin = path.join(root, "bin");
    fs.mkdirSync(bin);
    fs.mkdirSync(path.join(root, "run", "lock"), { recursive: true });
    const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), body, { mode: 0o755 });
    stub("certbot", CERTBOT_STUB);
    for (const t of ["systemctl", "apt-get", "openssl"]) stub(t, `#!/bin/bash\nprintf '%s\\n' "$*" >>"$SANDBOX/${t}.calls"\n`);
    stub("dpkg-query", opts.pluginInstalled === false ? "#!/bin/bash\nexit 1\n" : "#!/bin/bash\nprintf 'install ok installed'\n");
    const at = (p: string) => path.join(root, p);
    const sandboxed = (s: string) => s.replace(/(^|[\s'"=(>])\/(etc|run\/lock)\//g, `$1${root}/$2/`);
    return {
        root,
        run(script, stdin = "", env = {}) {
            const r = spawnSync("bash", ["-c", sandboxed(script)], {
                input: stdin,
                encoding: "utf8",
                env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH}`, SANDBOX: root },
            });
            return { status: r.status, out: `${r.stdout}${r.stderr}` };
        },
        read: (p) => fs.readFileSync(at(p), "utf8"),
        exists: (p) => fs.existsSync(at(p)),
        mode: (p) => (fs.statSync(at(p)).mode & 0o777).toString(8),
        calls: (tool) => (fs.existsSync(at(`${tool}.calls`)) ? fs.readFileSync(at(`${tool}.calls`), "utf8").trim().split("\n") : []),
        writeRenewal(cfg, params) {
            const p = at(cert.certificatePaths(cfg).renewal);
            fs.mkdirSync(path.dirname(p), { recursive: true });
            fs.mkdirSync(at(cert.certificatePaths(cfg).live), { recursive: true });
            fs.writeFileSync(p, ["# renew_before_expiry = 30 days", "version = 2.1.0", "", "[renewalparams]", "account = abc", `server = ${cfg.acme.server}`, ...params, ""].join("\n"));
        },
    };
}

const P = dns01Paths(hooks);
const rel = (p: string) => p.replace(/^\//, "");
/** A hook pair that records what certbot handed it (the sandbox's own path, from the environment). */
const RECORDING = dnsConfig("staging", {
    authHook: 'printf "auth %s %s\\n" "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" >>"$SANDBOX/hooks.log"',
    cleanupHook: 'printf "cleanup %s %s\\n" "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" >>"$SANDBOX/hooks.log"',
});

describe("the dns-01 scripts run by bash (sandbox)", () => {
    test("hooks: installed from stdin as root-only scripts that certbot runs with its environment; a second run changes nothing", ROOT_ONLY, () => {
        const sb = sandbox();
        const first = sb.run(cert.certificateScript(RECORDING, OWNER), cert.dns01Stdin(RECORDING));
        assert.equal(first.status, 0, first.out);
        assert.match(first.out, /berth: dns-01 hooks of berth-shop-staging updated/);
        assert.equal(sb.mode(rel(P.dir)), "700");
        assert.equal(sb.mode(rel(P.authHook)), "700");
        assert.equal(sb.mode(rel(P.cleanupHook)), "700");
        assert.equal(sb.mode(rel(P.identity)), "600");
        const auth = sb.read(rel(P.authHook)).split("\n");
        assert.equal(auth[0], "#!/bin/sh");
        assert.equal(auth[3], RECORDING.acme.dns01!.authHook);
        assert.equal(sb.read("hooks.log"), "auth staging.shop.example.com v4l1d\ncleanup staging.shop.example.com v4l1d\n");
        assert.match(sb.calls("certbot")[0], / --manual --preferred-challenges dns .* --keep-until-expiring$/);
        assert.match(sb.read(rel(P.identity)), new RegExp(`"owner":"${OWNER}"`));

        const second = sb.run(cert.certificateScript(RECORDING, OWNER), cert.dns01Stdin(RECORDING));
        assert.equal(second.status, 0, second.out);
        assert.doesNotMatch(second.out, /updated|reissuing|replacing/);
        assert.match(second.out, /not yet due for renewal/);
        assert.match(sb.calls("certbot")[1], /--keep-until-expiring$/);
        assert.equal(sb.read("hooks.log").split("\n").length, 3, "the hooks ran again");
        assert.deepEqual(fs.readdirSync(path.join(sb.root, rel(P.dir))).sort(), ["auth-hook", "cleanup-hook", "identity"], "a temp file was left");
    });

    test("without the secrets on stdin nothing is written and certbot does not run", ROOT_ONLY, () => {
        for (const cfg of [hooks, cloudflare]) {
            const sb = sandbox();
            for (const stdin of ["", "\n", "only-one-line\n"]) {
                const r = sb.run(cert.certificateScript(cfg, OWNER), stdin);
                assert.equal(r.status, 64, r.out);
                assert.ok(!sb.exists(rel(P.dir)), "the dns01 directory was made");
                assert.deepEqual(sb.calls("certbot"), []);
            }
        }
    });

    test("Cloudflare: the plugin is installed under the host lock, the token goes only into its 0600 file", ROOT_ONLY, () => {
        const sb = sandbox({ pluginInstalled: false });
        const r = sb.run(cert.certificateScript(cloudflare, OWNER), cert.dns01Stdin(cloudflare));
        assert.equal(r.status, 0, r.out);
        assert.ok(sb.calls("apt-get").some((l) => /^install .* python3-certbot-dns-cloudflare$/.test(l)), sb.calls("apt-get").join("\n"));
        assert.ok(sb.exists("run/lock/berth-host.lock"), "apt ran without the host lock");
        assert.equal(sb.read(rel(P.cloudflareCredentials)), `dns_cloudflare_api_token = ${TOKEN}\n`);
        assert.equal(sb.read("credentials-seen-by-certbot"), `dns_cloudflare_api_token = ${TOKEN}\n`);
        assert.equal(sb.mode(rel(P.cloudflareCredentials)), "600");
        assert.equal(sb.mode(rel(P.dir)), "700");
        for (const tool of ["certbot", "apt-get", "systemctl", "openssl"]) {
            assert.ok(!sb.calls(tool).join("\n").includes(TOKEN), `the token is in ${tool}'s argv`);
        }
        assert.ok(!r.out.includes(TOKEN), "the token is in the output");
        const again = sandbox().run(cert.certificateScript(cloudflare, OWNER), cert.dns01Stdin(cloudflare));
        assert.equal(again.status, 0, again.out);
    });

    test("switching ways reissues once and removes the old way's files after certbot succeeded", ROOT_ONLY, () => {
        const sb = sandbox();
        // An http-01 lineage (as certbot 2.1.0 writes it) -> hooks.
        sb.writeRenewal(hooks, ["authenticator = webroot", "webroot_path = /var/www/berth-acme/shop-staging,", "key_type = ecdsa", "[[webroot_map]]", "staging.shop.example.com = /var/www/berth-acme/shop-staging"]);
        let r = sb.run(cert.certificateScript(RECORDING, OWNER), cert.dns01Stdin(RECORDING));
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /the certificate renews with authenticator = webroot; reissuing it with manual/);
        assert.match(sb.calls("certbot").at(-1)!, /--force-renewal$/);
        r = sb.run(cert.certificateScript(RECORDING, OWNER), cert.dns01Stdin(RECORDING));
        assert.match(sb.calls("certbot").at(-1)!, /--keep-until-expiring$/, r.out);

        // hooks -> Cloudflare, certbot failing: the hooks stay (the lineage still names them).
        r = sb.run(cert.certificateScript(cloudflare, OWNER), cert.dns01Stdin(cloudflare), { CERTBOT_FAIL: "1" });
        assert.notEqual(r.status, 0);
        assert.match(r.out, /reissuing it with dns-cloudflare/);
        assert.ok(sb.exists(rel(P.authHook)) && sb.exists(rel(P.cleanupHook)));
        // ... then succeeding: the hooks go.
        r = sb.run(cert.certificateScript(cloudflare, OWNER), cert.dns01Stdin(cloudflare));
        assert.equal(r.status, 0, r.out);
        assert.ok(!sb.exists(rel(P.authHook)) && !sb.exists(rel(P.cleanupHook)));
        assert.match(sb.read(rel(cert.certificatePaths(cloudflare).renewal)), /^authenticator = dns-cloudflare$/m);
        r = sb.run(cert.certificateScript(cloudflare, OWNER), cert.dns01Stdin(cloudflare));
        assert.match(sb.calls("certbot").at(-1)!, /--keep-until-expiring$/, r.out);

        // Cloudflare -> hooks: the credentials file goes.
        r = sb.run(cert.certificateScript(RECORDING, OWNER), cert.dns01Stdin(RECORDING));
        assert.equal(r.status, 0, r.out);
        assert.match(sb.calls("certbot").at(-1)!, /--force-renewal$/);
        assert.ok(!sb.exists(rel(P.cloudflareCredentials)));
    });

    test("a new token is written (and only reported, never printed) without reissuing", ROOT_ONLY, () => {
        const sb = sandbox();
        sb.run(cert.certificateScript(cloudflare, OWNER), cert.dns01Stdin(cloudflare));
        const other = dnsConfig("staging", { cloudflareApiToken: `${TOKEN}2` });
        const r = sb.run(cert.certificateScript(other, OWNER), cert.dns01Stdin(other));
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /credentials of berth-shop-staging updated/);
        assert.ok(!r.out.includes(TOKEN));
        assert.equal(sb.read(rel(P.cloudflareCredentials)), `dns_cloudflare_api_token = ${TOKEN}2\n`);
        assert.match(sb.calls("certbot").at(-1)!, /--keep-until-expiring$/);
    });

    test("a lineage from another CA is still replaced", ROOT_ONLY, () => {
        const sb = sandbox();
        sb.writeRenewal(hooks, ["authenticator = manual", `manual_auth_hook = ${P.authHook}`, `manual_cleanup_hook = ${P.cleanupHook}`].map((l) => l.replace(/ \/etc\//, ` ${sb.root}/etc/`)));
        fs.writeFileSync(path.join(sb.root, rel(cert.certificatePaths(hooks).renewal)), sb.read(rel(cert.certificatePaths(hooks).renewal)).replace(/^server = .*$/m, "server = https://acme-v02.api.letsencrypt.org/directory"));
        const r = sb.run(cert.certificateScript(RECORDING, OWNER), cert.dns01Stdin(RECORDING));
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /the certificate comes from https:\/\/acme-v02.api.letsencrypt.org\/directory; replacing it/);
        assert.doesNotMatch(r.out, /reissuing it with/);
        assert.match(sb.calls("certbot").at(-1)!, /--force-renewal$/);
    });

    test("delete: the newer resource's lineage and files are left; its own are removed", ROOT_ONLY, () => {
        const sb = sandbox();
        const made = sb.run(cert.certificateScript(RECORDING, OWNER), cert.dns01Stdin(RECORDING));
        assert.equal(made.status, 0, made.out);
        const stale = sb.run(cert.certificateDeleteScript(hooks, "shop-staging-old-certificate-certbot"));
        assert.equal(stale.status, 0, stale.out);
        assert.match(stale.out, /belongs to a newer certificate resource/);
        assert.ok(sb.exists(rel(P.authHook)) && sb.exists(rel(cert.certificatePaths(hooks).renewal)));
        const own = sb.run(cert.certificateDeleteScript(hooks, OWNER));
        assert.equal(own.status, 0, own.out);
        assert.match(sb.calls("certbot").at(-1)!, /^delete --cert-name berth-shop-staging --non-interactive$/);
        assert.ok(!sb.exists(rel(P.dir)) && !sb.exists(rel(cert.certificatePaths(hooks).renewal)));
        assert.ok(sb.exists("etc/berth/shop-staging"), "the stack's directory belongs to others too");
        const again = sb.run(cert.certificateDeleteScript(hooks, OWNER));
        assert.equal(again.status, 0, again.out);
    });

    test("the checks can fail: a script without the authenticator check keeps a webroot lineage; a 0755 hook is seen", ROOT_ONLY, () => {
        const sb = sandbox();
        sb.writeRenewal(hooks, ["authenticator = webroot", "webroot_path = /var/www/berth-acme/shop-staging,"]);
        const noCheck = cert.certificateScript(RECORDING, OWNER).replace(/^ {2}for want in [^]*?^ {2}done\n/m, "");
        assert.notEqual(noCheck, cert.certificateScript(RECORDING, OWNER));
        assert.equal(sb.run(noCheck, cert.dns01Stdin(RECORDING)).status, 0);
        assert.match(sb.calls("certbot").at(-1)!, /--keep-until-expiring$/);
        const loose = cert.certificateScript(RECORDING, OWNER).replaceAll('chmod 0700 "$tmp"', 'chmod 0755 "$tmp"');
        assert.equal(sandbox().run(loose, cert.dns01Stdin(RECORDING)).status, 0);
        const sb2 = sandbox();
        sb2.run(loose, cert.dns01Stdin(RECORDING));
        assert.equal(sb2.mode(rel(P.authHook)), "755");
    });
});
