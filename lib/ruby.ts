/**
 * Which Ruby a release asks for, and whether the host's Ruby gives it
 * (the Rails preset's build, components/app/release.ts).
 *
 * Two sources, read as text (a Gemfile is never evaluated):
 * - `.ruby-version`: `3.3.8`, `ruby-3.3.8` or `3.3`. It names a series:
 *   `3.3.8` is satisfied by any 3.3.x, because the patch level of a distro's
 *   Ruby is its security updates (Debian keeps 3.3.8 and backports fixes;
 *   a version manager's 3.3.9 on the developer's laptop is the same series).
 * - the Gemfile's `ruby` directive: `ruby "3.3.8"`, `ruby "~> 3.2"`,
 *   `ruby ">= 3.1", "< 3.4"`, `ruby file: ".ruby-version"`, with RubyGems'
 *   semantics (Gem::Requirement) because Bundler enforces exactly those:
 *   `ruby "3.3.8"` means `= 3.3.8`, and `file:` reads the version from the
 *   file as an exact one, as Bundler does.
 *
 * The grammar is here once, as regular expressions both languages read
 * alike: the TS parser below uses them, and the host runs `RUBY_CHECK`
 * (Ruby, evaluated by the host's own `ruby` with the strings as argv and
 * Gem::Requirement for the comparison) with the same patterns as arguments.
 * test/unit/ruby.test.ts runs both on the same fixtures.
 */
import { HOST_RELEASES } from "./os";

/** `.ruby-version` content (trimmed): optional `ruby-`, major.minor, optional patch and `-pN`. */
export const RUBY_VERSION_FILE = "^(?:ruby-)?([0-9]+)\\.([0-9]+)(?:\\.([0-9]+))?(?:-p[0-9]+)?$";

/** One argument of the `ruby` directive: a string, `key: "v"` or `:key => "v"`. */
const ITEM = `(?:"[^"]*"|'[^']*'|[a-z_]+:\\s*(?:"[^"]*"|'[^']*')|:[a-z_]+\\s*=>\\s*(?:"[^"]*"|'[^']*'))`;

/** A Gemfile line that is a `ruby` directive berth can read; group 1 holds the arguments. */
export const GEMFILE_RUBY = `^\\s*ruby\\s*\\(?\\s*(${ITEM}(?:\\s*,\\s*${ITEM})*)\\s*\\)?\\s*(?:#.*)?$`;

/** A Gemfile line that starts a `ruby` directive at all (`ruby "..."`, `ruby(`, `ruby file:`, `ruby RUBY_VERSION`). */
export const GEMFILE_RUBY_START = `^\\s*ruby(?:\\s|\\()`;

/** Scans the arguments: groups 1/2 a plain string, 3 + 4/5 `key: value`, 6 + 7/8 `:key => value`. */
export const GEMFILE_RUBY_ITEM = `"([^"]*)"|'([^']*)'|([a-z_]+):\\s*(?:"([^"]*)"|'([^']*)')|:([a-z_]+)\\s*=>\\s*(?:"([^"]*)"|'([^']*)')`;

export type RubyVersionFile =
    | { kind: "series"; text: string; series: string; requirement: string }
    | { kind: "unreadable"; text: string };

/** `.ruby-version` -> the series it names (`~> X.Y.0`), or unreadable (`jruby-9.4`, `system`). */
export function parseRubyVersionFile(content: string): RubyVersionFile {
    const text = content.trim().split(/\r?\n/)[0]?.trim() ?? "";
    const m = new RegExp(RUBY_VERSION_FILE).exec(text);
    if (!m) return { kind: "unreadable", text };
    const series = `${m[1]}.${m[2]}`;
    return { kind: "series", text, series, requirement: `~> ${series}.0` };
}

export type GemfileRuby =
    | { kind: "none" }
    | { kind: "requirements"; line: string; requirements: string[] }
    | { kind: "file"; line: string; file: string }
    | { kind: "engine"; line: string; engine: string }
    | { kind: "unreadable"; line: string };

/** The Gemfile's first `ruby` directive, read as text. */
export function parseGemfileRuby(gemfile: string): GemfileRuby {
    const line = gemfile.split(/\r?\n/).find((l) => new RegExp(GEMFILE_RUBY_START).test(l));
    if (line === undefined) return { kind: "none" };
    const m = new RegExp(GEMFILE_RUBY).exec(line);
    if (!m) return { kind: "unreadable", line: line.trim() };
    const requirements: string[] = [];
    const options: Record<string, string> = {};
    for (const g of m[1].matchAll(new RegExp(GEMFILE_RUBY_ITEM, "g"))) {
        if (g[1] !== undefined || g[2] !== undefined) requirements.push(g[1] ?? g[2]);
        else if (g[3] !== undefined) options[g[3]] = g[4] ?? g[5];
        else options[g[6]] = g[7] ?? g[8];
    }
    if (options.engine !== undefined && options.engine !== "ruby") return { kind: "engine", line: line.trim(), engine: options.engine };
    if (options.file !== undefined) return { kind: "file", line: line.trim(), file: options.file };
    if (requirements.length === 0) return { kind: "unreadable", line: line.trim() };
    return { kind: "requirements", line: line.trim(), requirements };
}

// ---------------------------------------------------------------------------
// Gem::Requirement, the subset the `ruby` directive uses (for the TS side and
// its tests; the host evaluates with RubyGems itself).

const OPS = ["=", "!=", ">", "<", ">=", "<=", "~>"] as const;
export type Op = (typeof OPS)[number];

/** `"~> 3.2"` -> { op: "~>", version: "3.2" }; a bare version is `=`. Throws on anything else. */
export function parseRequirement(s: string): { op: Op; version: string } {
    const m = /^\s*(=|!=|>=|<=|>|<|~>)?\s*([0-9]+(?:\.[0-9]+)*)\s*$/.exec(s);
    if (!m) throw new Error(`berth: ${JSON.stringify(s)} is not a Ruby version requirement`);
    return { op: (m[1] ?? "=") as Op, version: m[2] };
}

function segments(v: string): number[] {
    return v.split(".").map(Number);
}

/** Gem::Version <=>: segment by segment, missing segments are 0. */
export function compareVersions(a: string, b: string): number {
    const x = segments(a);
    const y = segments(b);
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
        const d = (x[i] ?? 0) - (y[i] ?? 0);
        if (d !== 0) return Math.sign(d);
    }
    return 0;
}

/** Gem::Version#bump: drop the last segment (when more than one), increment the new last. */
function bump(v: string): string {
    const s = segments(v);
    if (s.length > 1) s.pop();
    s[s.length - 1] += 1;
    return s.join(".");
}

/** Whether `version` satisfies every requirement (Gem::Requirement#satisfied_by?, release versions). */
export function satisfies(version: string, requirements: readonly string[]): boolean {
    return requirements.every((r) => {
        const { op, version: v } = parseRequirement(r);
        const c = compareVersions(version, v);
        switch (op) {
            case "=":
                return c === 0;
            case "!=":
                return c !== 0;
            case ">":
                return c > 0;
            case "<":
                return c < 0;
            case ">=":
                return c >= 0;
            case "<=":
                return c <= 0;
            case "~>":
                return c >= 0 && compareVersions(version, bump(v)) < 0;
        }
    });
}

/** Supported host releases whose Ruby series (X.Y.0 - X.Y.99) can satisfy `requirements`: `Debian 13 (Ruby 3.3)`. */
export function releasesWithRuby(requirements: readonly string[]): string[] {
    return HOST_RELEASES.filter((r) => Array.from({ length: 100 }, (_, p) => `${r.ruby}.${p}`).some((v) => satisfies(v, requirements))).map(
        (r) => `${r.name} (Ruby ${r.ruby})`,
    );
}

// ---------------------------------------------------------------------------
// The check on the host

/**
 * The Ruby program the build runs before anything else (argv: release
 * directory, sha, the four patterns above, then `name=X.Y` per supported
 * release). Reads `.ruby-version` and the Gemfile as text, compares with
 * RubyGems, prints one line and exits 1 when the host's Ruby does not
 * satisfy them; prints a note and exits 0 for what it cannot read (Bundler
 * still enforces the Gemfile's directive).
 */
export const RUBY_CHECK = `dir, sha, vf_re, start_re, line_re, item_re, *table = ARGV
found = Gem::Version.new(RUBY_VERSION)
needs = []
vf = File.join(dir, ".ruby-version")
gemfile = File.join(dir, "Gemfile")
read_vf = lambda do |path, series|
  text = File.read(path).strip.lines.first.to_s.strip
  m = Regexp.new(vf_re).match(text)
  unless m
    $stderr.puts "berth: #{File.basename(path)} says #{text.inspect}, not a Ruby version berth can check (X.Y or X.Y.Z); not checked"
    next nil
  end
  series ? ["~> #{m[1]}.#{m[2]}.0", "#{File.basename(path)} #{text}: any #{m[1]}.#{m[2]}.x (patch levels are the distribution's security updates)"] : [text.sub(/\\Aruby-/, "").sub(/-p[0-9]+\\z/, ""), "Gemfile: ruby file: #{File.basename(path)} (#{text}), exact as Bundler reads it"]
end
if File.file?(vf)
  r = read_vf.call(vf, true)
  needs << [[r[0]], r[1]] if r
end
if File.file?(gemfile)
  line = File.foreach(gemfile).find { |l| Regexp.new(start_re).match?(l) }
  if line
    m = Regexp.new(line_re).match(line.chomp)
    if m
      reqs = []
      opts = {}
      m[1].scan(Regexp.new(item_re)) do |g|
        if g[0] || g[1] then reqs << (g[0] || g[1])
        elsif g[2] then opts[g[2]] = g[3] || g[4]
        else opts[g[5]] = g[6] || g[7]
        end
      end
      if opts["engine"] && opts["engine"] != "ruby"
        $stderr.puts "berth: the Gemfile asks for #{opts["engine"]}; berth builds with the host's CRuby"
      elsif opts["file"]
        path = File.expand_path(opts["file"], dir)
        if File.file?(path)
          r = read_vf.call(path, false)
          needs << [[r[0]], r[1]] if r
        end
      elsif !reqs.empty?
        needs << [reqs, "Gemfile: #{line.strip}"]
      else
        $stderr.puts "berth: cannot read the Gemfile's #{line.strip.inspect} without running it; Bundler checks it"
      end
    else
      $stderr.puts "berth: cannot read the Gemfile's #{line.strip.inspect} without running it; Bundler checks it"
    end
  end
end
needs.each do |reqs, source|
  req = begin
    Gem::Requirement.new(*reqs)
  rescue ArgumentError, Gem::Requirement::BadRequirementError
    $stderr.puts "berth: #{source}: #{reqs.join(", ")} is not a version requirement; not checked"
    next
  end
  next if req.satisfied_by?(found)
  matching = table.map { |t| t.split("=", 2) }.select { |_, v| (0..99).any? { |p| req.satisfied_by?(Gem::Version.new("#{v}.#{p}")) } }
  where = if matching.empty?
    "no release berth supports ships one (#{table.map { |t| t.sub("=", ": Ruby ") }.join(", ")})"
  else
    "#{matching.map { |n, v| "#{n} (Ruby #{v})" }.join(", ")} #{matching.size == 1 ? "ships" : "ship"} a matching Ruby"
  end
  $stderr.puts "berth: release #{sha} needs Ruby #{req} (#{source}) but this host has Ruby #{found}; #{where}. Nothing was switched: the serving release keeps serving. See README, \\"Deploying an app generated by rails new\\"."
  exit 1
end
`;

/** The host releases as the program's trailing arguments: `Debian 13=3.3`. */
export function rubyTableArgs(): string[] {
    return HOST_RELEASES.map((r) => `${r.name}=${r.ruby}`);
}

/** Arguments after the program: the patterns, then the table (the release directory and sha come first). */
export function rubyCheckArgs(): string[] {
    return [RUBY_VERSION_FILE, GEMFILE_RUBY_START, GEMFILE_RUBY, GEMFILE_RUBY_ITEM, ...rubyTableArgs()];
}
