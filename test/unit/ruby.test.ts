/**
 * Which Ruby a release asks for (lib/ruby.ts): the TS reading of
 * `.ruby-version` and the Gemfile's `ruby` directive, Gem::Requirement's
 * comparison, and the check the build runs on the host — the generated
 * bash run for real with fixture apps against a `ruby` that reports the
 * Ruby of each supported OS (the real interpreter with RUBY_VERSION
 * replaced), cross-checked with the TS reading.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { compareVersions, parseGemfileRuby, parseRequirement, parseRubyVersionFile, releasesWithRuby, satisfies } from "../../lib/ruby";
import { rubyCheckLines } from "../../components/app/release";
import { flatten, withShebang } from "../../lib/shell";
import { expectShellcheckClean, which } from "./golden";

describe(".ruby-version", () => {
    for (const [text, series] of [
        ["3.3.8\n", "3.3"],
        ["ruby-3.3.8\n", "3.3"],
        ["3.3", "3.3"],
        ["  ruby-3.4.1-p0  \n", "3.4"],
    ] as const) {
        test(JSON.stringify(text), () => {
            const r = parseRubyVersionFile(text);
            assert.equal(r.kind, "series");
            if (r.kind === "series") {
                assert.equal(r.series, series);
                assert.equal(r.requirement, `~> ${series}.0`);
            }
        });
    }
    for (const text of ["jruby-9.4.5.0", "system", "truffleruby-24.1", ""]) {
        test(`unreadable: ${JSON.stringify(text)}`, () => assert.equal(parseRubyVersionFile(text).kind, "unreadable"));
    }
    test("a series is satisfied by every patch level of it, and only by it", () => {
        const r = parseRubyVersionFile("ruby-3.3.8");
        assert.ok(r.kind === "series");
        assert.ok(satisfies("3.3.0", [r.requirement]));
        assert.ok(satisfies("3.3.8", [r.requirement]));
        assert.ok(satisfies("3.3.12", [r.requirement]));
        assert.ok(!satisfies("3.4.0", [r.requirement]));
        assert.ok(!satisfies("3.2.9", [r.requirement]));
    });
});

describe("the Gemfile's ruby directive", () => {
    const cases: [string, ReturnType<typeof parseGemfileRuby>["kind"], string[] | string | undefined][] = [
        ['source "https://rubygems.org"\n\nruby "3.3.8"\ngem "rails"\n', "requirements", ["3.3.8"]],
        ["ruby '~> 3.2'\n", "requirements", ["~> 3.2"]],
        ['ruby ">= 3.1", "< 3.4"\n', "requirements", [">= 3.1", "< 3.4"]],
        ['ruby(">= 3.1", "< 3.4") # comment\n', "requirements", [">= 3.1", "< 3.4"]],
        ['ruby "3.3.8", patchlevel: "100"\n', "requirements", ["3.3.8"]],
        ['ruby file: ".ruby-version"\n', "file", ".ruby-version"],
        ["ruby :file => '.tool-versions'\n", "file", ".tool-versions"],
        ['ruby "3.3.0", engine: "jruby", engine_version: "9.4.5.0"\n', "engine", "jruby"],
        ["ruby RUBY_VERSION\n", "unreadable", undefined],
        ['ruby File.read(".ruby-version").strip\n', "unreadable", undefined],
        ['ruby "3.3"; system("touch pwned")\n', "unreadable", undefined],
        ['source "https://rubygems.org"\ngem "ruby-vips"\ngem "rails", "~> 7.2.2"\n', "none", undefined],
    ];
    for (const [gemfile, kind, value] of cases) {
        test(JSON.stringify(gemfile.trim().split("\n").pop()), () => {
            const r = parseGemfileRuby(gemfile);
            assert.equal(r.kind, kind);
            if (r.kind === "requirements") assert.deepEqual(r.requirements, value);
            if (r.kind === "file") assert.equal(r.file, value);
            if (r.kind === "engine") assert.equal(r.engine, value);
        });
    }
});

describe("Gem::Requirement (TS) agrees with RubyGems", () => {
    const reqs = [["3.3.8"], ["~> 3.2"], ["~> 3.3.0"], [">= 3.1", "< 3.4"], ["!= 3.3.1"], ["> 3.3"], ["<= 3.2.9"], ["= 3.3"]];
    const versions = ["3.1.2", "3.2.0", "3.2.9", "3.3", "3.3.0", "3.3.1", "3.3.8", "3.4.0", "4.0.0"];
    test("parseRequirement refuses what is not a requirement", () => {
        assert.deepEqual(parseRequirement("3.3.8"), { op: "=", version: "3.3.8" });
        assert.deepEqual(parseRequirement("~>3.2"), { op: "~>", version: "3.2" });
        for (const bad of ["", "abc", "=> 3", "3.3; rm -rf /", "~> "]) assert.throws(() => parseRequirement(bad), bad);
    });
    test("compareVersions pads missing segments with 0", () => {
        assert.equal(compareVersions("3.3", "3.3.0"), 0);
        assert.equal(compareVersions("3.10.0", "3.9.9"), 1);
    });
    test("every pair, against the host's ruby", { skip: !hasRuby() && "ruby is not installed (apt-get install ruby)" }, () => {
        const program = 'ARGV.each_slice(2) { |v, r| puts Gem::Requirement.new(*r.split("|")).satisfied_by?(Gem::Version.new(v)) }';
        const args = versions.flatMap((v) => reqs.map((r) => [v, r.join("|")])).flat();
        const out = spawnSync("ruby", ["-e", program, "--", ...args], { encoding: "utf8" });
        assert.equal(out.status, 0, out.stderr);
        const expected = versions.flatMap((v) => reqs.map((r) => String(satisfies(v, r))));
        assert.deepEqual(out.stdout.trim().split("\n"), expected);
    });
    test("the supported releases whose Ruby can match", () => {
        assert.deepEqual(releasesWithRuby(["~> 3.3.0"]), ["Debian 13 (Ruby 3.3)"]);
        assert.deepEqual(releasesWithRuby([">= 3.2"]), ["Debian 13 (Ruby 3.3)", "Ubuntu 24.04 (Ruby 3.2)"]);
        assert.deepEqual(releasesWithRuby(["3.4.1"]), []);
    });
});

function hasRuby(): boolean {
    try {
        return which("ruby") !== "";
    } catch {
        return false;
    }
}

const SHA = "5f8008de1dd704ea09395bd87621f1d32eeac017";

/**
 * Runs the build's Ruby check on a fixture app with a `ruby` on PATH that is
 * the real interpreter reporting `rubyVersion`.
 */
function runCheck(files: Record<string, string>, rubyVersion: string): { status: number | null; stderr: string; dir: string } {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-ruby-"));
    const app = path.join(tmp, "app");
    fs.mkdirSync(app);
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(app, f), text);
    const bin = path.join(tmp, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(tmp, "version.rb"), `Object.send(:remove_const, :RUBY_VERSION)\nRUBY_VERSION = ${JSON.stringify(rubyVersion)}.freeze\n`);
    fs.writeFileSync(path.join(bin, "ruby"), `#!/bin/sh\nexec ${which("ruby")} -W0 -r${path.join(tmp, "version.rb")} "$@"\n`, { mode: 0o755 });
    const body = flatten(rubyCheckLines(app, SHA)).join("\n");
    const r = spawnSync("bash", ["-c", `set -euo pipefail\n${body}\necho checked`], { encoding: "utf8", cwd: tmp, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    try {
        assert.ok(r.status !== 0 || r.stdout.includes("checked"), r.stdout);
        return { status: r.status, stderr: r.stderr, dir: tmp };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

describe("the build's Ruby check, run with fixture apps", { skip: !hasRuby() && "ruby is not installed (apt-get install ruby)" }, () => {
    test("shellcheck-clean", () => expectShellcheckClean("ruby check", withShebang(flatten(rubyCheckLines("/srv/app", SHA)).join("\n") + "\n")));

    // rails new 7.2 / 8: `.ruby-version` of the developer's Ruby, no ruby line in the Gemfile.
    const railsNew = { ".ruby-version": "ruby-3.3.8\n", Gemfile: 'source "https://rubygems.org"\n\ngem "rails", "~> 7.2.2"\n' };
    test("rails new on Debian 13's Ruby passes", () => assert.equal(runCheck(railsNew, "3.3.8").status, 0));
    test("another patch level of the same series passes (.ruby-version names a series)", () => {
        assert.equal(runCheck({ ...railsNew, ".ruby-version": "3.3.9\n" }, "3.3.8").status, 0);
        assert.equal(runCheck({ ...railsNew, ".ruby-version": "3.3\n" }, "3.3.8").status, 0);
    });
    test("Debian 12's Ruby fails, naming both versions and the release that has one", () => {
        const r = runCheck(railsNew, "3.1.2");
        assert.equal(r.status, 1);
        assert.match(r.stderr, new RegExp(`^berth: release ${SHA} needs Ruby ~> 3\\.3\\.0 \\(\\.ruby-version ruby-3\\.3\\.8: any 3\\.3\\.x`, "m"));
        assert.match(r.stderr, /this host has Ruby 3\.1\.2; Debian 13 \(Ruby 3\.3\) ships a matching Ruby/);
        assert.match(r.stderr, /the serving release keeps serving/);
        assert.equal(r.stderr.trim().split("\n").length, 1);
    });
    test("a Ruby no supported release ships says so", () => {
        const r = runCheck({ ".ruby-version": "3.4.1" }, "3.3.8");
        assert.equal(r.status, 1);
        assert.match(r.stderr, /no release berth supports ships one \(Debian 12: Ruby 3\.1, Debian 13: Ruby 3\.3, Ubuntu 24\.04: Ruby 3\.2\)/);
    });
    test("the Gemfile's requirement has RubyGems semantics: an exact version is exact", () => {
        const r = runCheck({ Gemfile: 'ruby "3.3.8"\n' }, "3.3.7");
        assert.equal(r.status, 1);
        assert.match(r.stderr, /needs Ruby = 3\.3\.8 \(Gemfile: ruby "3\.3\.8"\)/);
        assert.equal(runCheck({ Gemfile: 'ruby "3.3.8"\n' }, "3.3.8").status, 0);
    });
    test("ranges, pessimistic and several requirements", () => {
        const pess = runCheck({ Gemfile: "ruby '~> 3.2'\n" }, "3.1.2");
        assert.equal(pess.status, 1);
        assert.match(pess.stderr, /Debian 13 \(Ruby 3\.3\), Ubuntu 24\.04 \(Ruby 3\.2\) ship a matching Ruby/);
        assert.equal(runCheck({ Gemfile: 'ruby ">= 3.1", "< 3.4"\n' }, "3.3.8").status, 0);
        assert.equal(runCheck({ Gemfile: 'ruby ">= 3.1", "< 3.4"\n' }, "3.4.1").status, 1);
    });
    test("ruby file: reads the version as Bundler does: exact", () => {
        const files = { ".ruby-version": "3.3.9\n", Gemfile: 'ruby file: ".ruby-version"\n' };
        const r = runCheck(files, "3.3.8");
        assert.equal(r.status, 1);
        assert.match(r.stderr, /needs Ruby = 3\.3\.9 \(Gemfile: ruby file: \.ruby-version \(3\.3\.9\), exact as Bundler reads it\)/);
        assert.equal(runCheck({ ...files, ".ruby-version": "ruby-3.3.8\n" }, "3.3.8").status, 0);
    });
    test("what it cannot read is a note, never code it runs", () => {
        const marker = path.join(os.tmpdir(), `berth-pwned-${process.pid}`);
        for (const gemfile of [`ruby "$(touch ${marker})"\n`, `ruby "3.3"; system("touch ${marker}")\n`, "ruby RUBY_VERSION\n", `ruby "#{system('touch ${marker}')}"\n`]) {
            const r = runCheck({ Gemfile: gemfile }, "3.3.8");
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stderr, /^berth: .*(not checked|Bundler checks it)/m, gemfile);
        }
        assert.ok(!fs.existsSync(marker), "a Gemfile line was executed");
    });
    test("no .ruby-version and no ruby line: nothing to check", () => {
        const r = runCheck({ Gemfile: 'gem "rails"\n' }, "3.1.2");
        assert.equal(r.status, 0);
        assert.equal(r.stderr, "");
    });
    test("the host's verdict is the TS reading's, fixture by fixture", () => {
        const gemfiles = ['ruby "3.3.8"\n', "ruby '~> 3.2'\n", 'ruby ">= 3.1", "< 3.4"\n', 'ruby "!= 3.3.8"\n', 'ruby "> 3.3"\n'];
        for (const g of gemfiles) {
            for (const v of ["3.1.2", "3.2.3", "3.3.8", "3.4.1"]) {
                const parsed = parseGemfileRuby(g);
                assert.ok(parsed.kind === "requirements");
                assert.equal(runCheck({ Gemfile: g }, v).status === 0, satisfies(v, parsed.requirements), `${g.trim()} on ${v}`);
            }
        }
    });
});
