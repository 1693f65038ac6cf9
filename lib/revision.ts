/**
 * Resolves `berth:revision` to a commit sha where `pulumi` runs, so that a
 * moved branch shows in `pulumi preview` as a revision change and an unmoved
 * one as no change. A full sha resolves to itself without any network access;
 * branches and tags are looked up with `git ls-remote`, over SSH with the
 * deploy key and the pinned host key of the git server.
 *
 * `BERTH_REVISION_SHA` (40 hex) pins the answer for one run: when set, the
 * configured ref is taken to point at that commit and nothing is looked up.
 * Resolve once and hand the sha to every run that must agree (`pulumi
 * preview` then `pulumi up`, which itself runs the program twice; a drift
 * check against the commit the stack serves): a branch moving in between
 * changes nothing. A configured full sha that differs from it is an error.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BerthConfig } from "./config";
import { quote } from "./shell";

export interface ResolvedRevision {
    /** What the user configured (branch, tag or sha). */
    readonly ref: string;
    /** The commit it points at now. */
    readonly sha: string;
}

/** Runs `git ls-remote <repo> <patterns...>` and returns its stdout. */
export type LsRemote = (repository: string, patterns: string[], env: NodeJS.ProcessEnv) => string;

export const gitLsRemote: LsRemote = (repository, patterns, env) =>
    execFileSync("git", ["ls-remote", "--", repository, ...patterns], {
        encoding: "utf8",
        env,
        timeout: 60_000,
        stdio: ["ignore", "pipe", "pipe"],
    });

/** Host and port of an SSH git URL (ssh://user@host:port/path or user@host:path). */
export function sshEndpoint(url: string): { host: string; port: number } | undefined {
    const m1 = /^ssh:\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\//.exec(url);
    if (m1) return { host: m1[1].replace(/^\[|\]$/g, ""), port: m1[2] ? Number(m1[2]) : 22 };
    const m2 = /^[A-Za-z0-9._-]+@([A-Za-z0-9._-]+):/.exec(url);
    if (m2) return { host: m2[1], port: 22 };
    return undefined;
}

/** A known_hosts line for the git server (OpenSSH's [host]:port form off port 22). */
export function gitKnownHostsLine(url: string, hostKey: string): string | undefined {
    const ep = sshEndpoint(url);
    if (!ep) return undefined;
    return `${ep.port === 22 ? ep.host : `[${ep.host}]:${ep.port}`} ${hostKey}`;
}

/** Picks the commit for `ref` out of ls-remote output (peeled tags win). */
export function pickSha(lsRemoteOutput: string, ref: string): string | undefined {
    const refs = new Map<string, string>();
    for (const line of lsRemoteOutput.split("\n")) {
        const [sha, name] = line.trim().split(/\s+/);
        if (sha && name) refs.set(name, sha);
    }
    const candidates = ref.startsWith("refs/")
        ? [`${ref}^{}`, ref]
        : [`refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`];
    for (const c of candidates) {
        const sha = refs.get(c);
        if (sha) return sha;
    }
    return undefined;
}

/** Environment variable that fixes the commit for the configured ref. */
export const REVISION_SHA_ENV = "BERTH_REVISION_SHA";

/**
 * The sha pinned by BERTH_REVISION_SHA for `ref`, or undefined when unset
 * (or empty, so CI can pass an empty value for "resolve it yourself").
 */
export function pinnedSha(ref: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
    const raw = env[REVISION_SHA_ENV];
    if (raw === undefined || raw.trim() === "") return undefined;
    const sha = raw.trim();
    if (!/^[0-9a-f]{40}$/.test(sha)) {
        throw new Error(`${REVISION_SHA_ENV}: ${JSON.stringify(sha)} is not a full commit sha (40 lowercase hex characters)`);
    }
    if (/^[0-9a-f]{40}$/.test(ref) && ref !== sha) {
        throw new Error(`berth:revision is the commit ${ref} but ${REVISION_SHA_ENV} is ${sha}; unset ${REVISION_SHA_ENV} or make them agree`);
    }
    return sha;
}

export function resolveRevision(cfg: BerthConfig, lsRemote: LsRemote = gitLsRemote, processEnv: NodeJS.ProcessEnv = process.env): ResolvedRevision {
    const ref = cfg.release.revision;
    const pinned = pinnedSha(ref, processEnv);
    if (pinned !== undefined) return { ref, sha: pinned };
    if (/^[0-9a-f]{40}$/.test(ref)) return { ref, sha: ref };

    const repo = cfg.release.repository;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-ls-remote-"));
    try {
        const env: NodeJS.ProcessEnv = { ...processEnv, GIT_TERMINAL_PROMPT: "0" };
        const ep = sshEndpoint(repo);
        if (ep) {
            const known = path.join(tmp, "known_hosts");
            fs.writeFileSync(known, `${gitKnownHostsLine(repo, cfg.release.repositoryHostKey ?? "")}\n`);
            const ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${known}`, "-o", "GlobalKnownHostsFile=/dev/null"];
            if (cfg.release.deployKey) {
                const key = path.join(tmp, "deploy_key");
                fs.writeFileSync(key, cfg.release.deployKey.endsWith("\n") ? cfg.release.deployKey : `${cfg.release.deployKey}\n`, { mode: 0o600 });
                ssh.push("-o", "IdentitiesOnly=yes", "-i", key);
            }
            env.GIT_SSH_COMMAND = ssh.map(quote).join(" ");
        }
        const patterns = ref.startsWith("refs/") ? [ref, `${ref}^{}`] : [`refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`];
        let out: string;
        try {
            out = lsRemote(repo, patterns, env);
        } catch (e) {
            const stderr = String((e as { stderr?: unknown }).stderr ?? (e as Error).message).trim();
            throw new Error(`berth:revision: could not resolve ${JSON.stringify(ref)} in ${repo}: ${stderr}`);
        }
        const sha = pickSha(out, ref);
        if (!sha) throw new Error(`berth:revision: ${JSON.stringify(ref)} is neither a branch nor a tag of ${repo}`);
        return { ref, sha };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}
