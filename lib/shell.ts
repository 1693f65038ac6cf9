/**
 * Shell commands as data (the Kamal approach): every piece of user input that
 * reaches a remote shell goes through `quote`, and scripts are assembled from
 * lines by `script`, never by ad-hoc string concatenation of user values.
 *
 * A remote command that berth runs is always `bash -c '<script>'` (prefixed by
 * `sudo -n` when the SSH user is not root). Secrets never appear in the
 * script: they arrive on the command's stdin and are read with `readSecrets`.
 */

/** A fragment that is already valid shell and must not be quoted again. */
export interface Raw {
    readonly raw: string;
}

export type Arg = string | number | Raw;

/** Marks trusted, already-valid shell text (operators, redirections, `$VAR`). */
export function raw(text: string): Raw {
    return { raw: text };
}

function isRaw(a: Arg): a is Raw {
    return typeof a === "object" && a !== null && "raw" in a;
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX single-quote `value` unless it only holds characters no shell treats specially. */
export function quote(value: string | number): string {
    const s = String(value);
    if (s.length > 0 && SAFE.test(s)) {
        return s;
    }
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One command line: each string argument is quoted, `raw` fragments are kept. */
export function cmd(...args: Arg[]): string {
    return args.map((a) => (isRaw(a) ? a.raw : quote(a))).join(" ");
}

/** `a && b && c` */
export function and(...commands: string[]): string {
    return commands.join(" && ");
}

/**
 * Stops and disables a systemd unit (`unit`: one shell word, quoted or `"$u"`) and clears a
 * *failed* state it may keep: a unit whose stop failed (a timeout, a kill) stays listed as
 * `not-found failed` in `systemctl --failed` after its file is removed, until reset.
 * Never fails (the unit may not exist).
 */
export function retireUnit(unit: string): string {
    return `systemctl disable --now --quiet ${unit} 2>/dev/null || true; systemctl reset-failed ${unit} 2>/dev/null || true`;
}

/** `NAME=value` assignment with the value quoted. */
export function assign(name: string, value: string | number): string {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new Error(`invalid shell variable name ${JSON.stringify(name)}`);
    }
    return `${name}=${quote(value)}`;
}

/** `lines` with `prefix` before each non-empty one (a nested block of a script, a config file's block). */
export function indent(prefix: string, lines: Lines): string[] {
    return flatten(lines).map((l) => (l === "" ? l : `${prefix}${l}`));
}

/**
 * A bash script: strict mode header, then the lines. Nested arrays are
 * flattened and empty entries dropped so callers can build lines conditionally.
 */
export type Lines = ReadonlyArray<string | false | undefined | null | Lines>;

export function flatten(lines: Lines): string[] {
    const out: string[] = [];
    for (const l of lines) {
        if (Array.isArray(l)) {
            out.push(...flatten(l as Lines));
        } else if (typeof l === "string") {
            out.push(l);
        }
    }
    return out;
}

export function script(...lines: Lines): string {
    return ["set -euo pipefail", "umask 022", ...flatten(lines)].join("\n") + "\n";
}

/** The text shellcheck sees for a generated script. */
export function withShebang(body: string): string {
    return `#!/usr/bin/env bash\n${body}`;
}

/**
 * The command string handed to the SSH session: `bash -c '<script>'`,
 * under `sudo -n` (no password prompt, fail instead) for a non-root user.
 */
export function remote(body: string, opts: { sudo: boolean }): string {
    return cmd(...(opts.sudo ? ["sudo", "-n"] : []), "bash", "-c", body);
}

/**
 * Reads secret values from stdin, one per line, into shell variables, and
 * fails when a line is missing. Values never touch argv or the environment
 * of other processes: `read` and `printf` are bash builtins.
 */
export function readSecrets(...names: string[]): string[] {
    return names.map(
        (n) => `IFS= read -r ${n} || { echo ${quote(`berth: missing secret ${n} on stdin`)} >&2; exit 64; }`,
    );
}

/** stdin payload matching `readSecrets`: one value per line; values must be single-line. */
export function secretsPayload(values: string[]): string {
    for (const v of values) {
        if (v.includes("\n")) {
            throw new Error("berth: a secret passed on stdin must not contain a newline");
        }
    }
    return values.join("\n") + "\n";
}

/**
 * Writes `content` to `path` atomically (temp file in the same directory,
 * then rename), with mode and owner. The content is embedded as a quoted
 * heredoc, so it must not be secret. Only rewrites when the content differs,
 * and sets `$changed` to 1 when it did.
 */
export function writeFile(path: string, content: string, opts: { mode: string; owner?: string }): string[] {
    const marker = heredocMarker(content);
    const owner = opts.owner ?? "root:root";
    return [
        `tmp=$(mktemp ${quote(`${path}.berth.XXXXXX`)})`,
        `cat > "$tmp" <<'${marker}'`,
        content.endsWith("\n") ? content.slice(0, -1) : content,
        marker,
        cmd("chmod", opts.mode, raw('"$tmp"')),
        cmd("chown", owner, raw('"$tmp"')),
        `if cmp -s "$tmp" ${quote(path)} && [ "$(stat -c '%a %U:%G' ${quote(path)})" = ${quote(`${opts.mode.replace(/^0/, "")} ${owner}`)} ]; then rm -f "$tmp"; else mv -f "$tmp" ${quote(path)}; changed=1; fi`,
    ];
}

function heredocMarker(content: string): string {
    let marker = "BERTH_EOF";
    let i = 0;
    while (content.split("\n").includes(marker)) {
        marker = `BERTH_EOF_${++i}`;
    }
    return marker;
}

/** Runs `body` with up to `attempts` tries, `delay` seconds apart. */
export function retry(attempts: number, delaySeconds: number, body: string): string {
    return `for attempt in $(seq 1 ${attempts}); do if ${body}; then break; fi; if [ "$attempt" -eq ${attempts} ]; then exit 1; fi; sleep ${delaySeconds}; done`;
}

/**
 * Lines that take an exclusive `flock` on `file` (fd 9) for the rest of the
 * script, waiting at most `waitSeconds` for another operation on the host:
 * host-level steps of concurrent operations (switch, nginx reload, apt)
 * never interleave. The kernel drops the lock when the script exits, however
 * it ends (a killed connection included). Exits 75 when the wait times out.
 */
export function hostLock(file: string, what: string, waitSeconds = 900): string[] {
    return [
        `exec 9>>${quote(file)}`,
        "if ! flock -n 9; then",
        `  echo ${quote(`berth: ${what}: waiting for another berth operation on this host (${file})`)} >&2`,
        `  flock -w ${waitSeconds} 9 || { echo ${quote(`berth: ${what}: ${file} still held after ${waitSeconds}s`)} >&2; exit 75; }`,
        "fi",
    ];
}

/**
 * The words of an `ssh` command (for GIT_SSH_COMMAND, restic's sftp.command)
 * that logs in only with `keyFile` and only to a host whose key is pinned in
 * `knownHosts`; `extra` follows (e.g. `-F /dev/null` first is the caller's).
 */
export function pinnedSshWords(keyFile: string, knownHosts: string, opts: { noConfig?: boolean; extra?: string[] } = {}): string[] {
    return [
        "ssh",
        ...(opts.noConfig ? ["-F", "/dev/null"] : []),
        "-i",
        keyFile,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        ...(opts.extra ?? []),
    ];
}

/** apt's wait for the dpkg lock (another apt run, unattended-upgrades): `-o` value every apt-get berth runs uses. */
export const APT_LOCK_WAIT = "DPkg::Lock::Timeout=600";

/**
 * Installs the packages of the bash array `wanted` (set by the caller's
 * lines: lib/os.ts `osPackagesCase`, per host release) that are not
 * installed yet (nothing runs apt when all are): apt waits for dpkg's lock,
 * keeps changed conffiles. `lock`: lines that take a lock only when
 * something is installed (the caller holds none); `stderr`: apt and the
 * message go to stderr (stdout is data).
 */
export function aptInstallWanted(opts: { lock?: Lines; stderr?: boolean } = {}): Lines {
    const err = opts.stderr ? " >&2" : "";
    return [
        "export DEBIAN_FRONTEND=noninteractive",
        "missing=()",
        `for p in "\${wanted[@]}"; do`,
        `  dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")`,
        "done",
        `if [ "\${#missing[@]}" -gt 0 ]; then`,
        ...flatten(opts.lock ?? []).map((l) => `  ${l}`),
        `  apt-get update -q -o ${APT_LOCK_WAIT}${err}`,
        `  apt-get install -y -q --no-install-recommends -o ${APT_LOCK_WAIT} -o Dpkg::Options::=--force-confold "\${missing[@]}"${err}`,
        `  echo "installed: \${missing[*]}"${err}`,
        "fi",
    ];
}
