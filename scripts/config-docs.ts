/**
 * Renders the documentation of the `berth:*` keys from their one
 * declaration, lib/config/keys.ts:
 *
 * - Pulumi.yaml: everything from its first comment line on (the header
 *   comment, which lists the keys Pulumi cannot declare, and the `config:`
 *   section); the lines above it (name, runtime, ...) are kept as they are.
 * - README.md: the "Configuration reference" table between
 *   `<!-- config-table:start -->` and `<!-- config-table:end -->`.
 *
 *   node --import tsx scripts/config-docs.ts           check: exit 1 and show the differences when a file is out of date
 *   node --import tsx scripts/config-docs.ts --write   rewrite the files
 *   (npm run config:docs [-- --write])
 *
 * test/unit/config.test.ts runs the check.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { z } from "zod";
import { KEYS, type KeyDecl, type PulumiDefault, schemaKind } from "../lib/config/keys";

export const ROOT = path.resolve(__dirname, "..");
const NAMESPACE = "berth";
const SOURCE = "lib/config/keys.ts";
export const TABLE_START = "<!-- config-table:start -->";
export const TABLE_END = "<!-- config-table:end -->";
/** Pulumi.yaml's header comment: a key's note goes on its line when it fits in this width, else on lines of its own wrapped to it. */
const WIDTH = 88;

// ---------------------------------------------------------------------------
// What the schema says about a key
// ---------------------------------------------------------------------------

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; defaultValue?: unknown; element?: z.ZodType; shape?: Record<string, z.ZodType>; entries?: Record<string, string> };
const defOf = (t: z.ZodType): Def => (t as any)._zod.def;

/** The schema under its optional/default/nullable wrappers and transforms. */
function base(t: z.ZodType): z.ZodType {
    const d = defOf(t);
    if (d.type === "optional" || d.type === "default" || d.type === "nullable") return base(d.innerType!);
    if (d.type === "pipe") return base(d.in!);
    return t;
}

/** `.default(v)` -> {value: v}; `.optional()` -> "optional"; neither -> "required". */
function presence(t: z.ZodType): { value: unknown } | "optional" | "required" {
    const d = defOf(t);
    if (d.type === "default") return { value: d.defaultValue };
    if (d.type === "optional") return "optional";
    if (d.type === "nullable") return presence(d.innerType!);
    if (d.type === "pipe") return presence(d.in!);
    return "required";
}

const STRUCTURED = new Set(["object", "record", "array"]);

/** The Pulumi.yaml type of a schema, undefined when Pulumi project config cannot express it (objects, lists of objects). */
function pulumiType(t: z.ZodType): "string" | "integer" | "boolean" | "array" | undefined {
    const kind = schemaKind(t);
    if (kind === "string" || kind === "enum") return "string";
    if (kind === "number") return "integer";
    if (kind === "boolean") return "boolean";
    if (kind === "array") return pulumiType(defOf(base(t)).element!) === "string" ? "array" : undefined;
    return undefined;
}

/** `{a, b, roles: [web|worker|data]}`: the fields of an object-valued key, for Pulumi.yaml's header comment. */
function shapeText(t: z.ZodType): string {
    const b = base(t);
    const d = defOf(b);
    if (d.type === "record") return "{NAME: value}";
    if (d.type === "array") return `[${shapeText(d.element!)}]`;
    if (d.type === "object") {
        const fields = Object.entries(d.shape!).map(([f, s]) => {
            const fb = defOf(base(s));
            if (fb.type === "array" && defOf(base(fb.element!)).type === "enum") return `${f}: [${Object.values(defOf(base(fb.element!)).entries!).join("|")}]`;
            return f;
        });
        return `{${fields.join(", ")}}`;
    }
    return "";
}

function show(v: unknown): string {
    if (v === "") return '""';
    return typeof v === "string" ? v : JSON.stringify(v);
}

export interface KeyDoc {
    key: string;
    readme: { type: string; default: string; meaning: string };
    /** Its Pulumi.yaml declaration, or undefined when Pulumi.yaml cannot declare it. */
    pulumi?: { type: string; description: string; default?: PulumiDefault };
    /** Its lines in Pulumi.yaml's header comment (keys Pulumi.yaml does not declare). */
    header?: string[];
}

/** Everything the docs say about one key, derived from its declaration; throws when the declaration is incomplete or contradicts its schema. */
export function keyDoc(key: string, decl: KeyDecl): KeyDoc {
    const problem = (m: string) => new Error(`${SOURCE}: ${key}: ${m}`);
    const kind = schemaKind(decl.schema);
    const has = presence(decl.schema);
    if (decl.meaning.trim() === "") throw problem("meaning is empty; say what the key does (the README row)");
    if (/\n/.test(decl.meaning + (decl.type ?? "") + (decl.default ?? ""))) throw problem("README cells are one line");

    let type = decl.type;
    if (type === undefined) {
        const named: Record<string, string> = { string: "string", enum: "string", number: "integer", boolean: "boolean", object: "object", record: "object" };
        type = kind === "array" ? (defOf(base(defOf(base(decl.schema)).element!)).type === "object" ? "list of objects" : "list") : named[kind];
        if (type === undefined) throw problem(`cannot name the README type of a ${kind} schema; give \`type\``);
        if (decl.secret) type = type === "string" ? "secret" : `secret ${type}`;
    }

    let pulumi: KeyDoc["pulumi"];
    const ptype = decl.secret ? undefined : pulumiType(decl.schema);
    if (decl.pulumi !== undefined) {
        if (ptype === undefined) throw problem(`Pulumi.yaml cannot declare a ${decl.secret ? "secret" : kind} key; remove \`pulumi\` (say what it holds in \`meaning\`)`);
        if (decl.undeclared !== undefined) throw problem("give either `pulumi` (declared in Pulumi.yaml) or `undeclared` (not declared), not both");
        const description = typeof decl.pulumi === "string" ? decl.pulumi : decl.pulumi.description;
        if (description.trim() === "" || description.includes("\n")) throw problem("the Pulumi.yaml description must be one non-empty line");
        let def: PulumiDefault | undefined;
        if (typeof decl.pulumi === "object") def = decl.pulumi.default;
        else if (typeof has === "object") def = has.value as PulumiDefault;
        else if (has === "optional") {
            // An optional string is declared with "" (parseConfig reads "" as unset); other kinds need a default of their own.
            if (ptype !== "string") throw problem(`an optional ${ptype} needs a Pulumi.yaml default: give \`pulumi: { description, default }\`, or declare it \`undeclared\``);
            def = "";
        }
        const fits =
            def === undefined ||
            (ptype === "string" && typeof def === "string") ||
            (ptype === "integer" && Number.isInteger(def)) ||
            (ptype === "boolean" && typeof def === "boolean") ||
            (ptype === "array" && Array.isArray(def) && def.every((x) => typeof x === "string"));
        if (!fits) throw problem(`Pulumi.yaml default ${JSON.stringify(def)} is not a ${ptype}`);
        pulumi = { type: ptype, description, default: def };
    } else if (ptype !== undefined && decl.undeclared === undefined) {
        throw problem("Pulumi.yaml can declare this key: give its description (`pulumi`), or say why it is not declared (`undeclared`)");
    }

    let dflt = decl.default;
    if (dflt === undefined) {
        if (has === "required") dflt = "required";
        else if (typeof has === "object") dflt = kind === "object" ? "—" : show(has.value);
        else dflt = pulumi?.default !== undefined ? show(pulumi.default) : "—";
    }

    let header: string[] | undefined;
    if (pulumi === undefined) {
        const tag = decl.secret ? (STRUCTURED.has(kind) ? "(secret object)" : "(secret)") : STRUCTURED.has(kind) ? "" : `(${ptype ?? kind})`;
        const line = [`#   ${NAMESPACE}:${key}`, tag, shapeText(decl.schema)].filter((s) => s !== "").join(" ");
        const note = decl.undeclared?.trim();
        if (note === undefined) header = [line];
        else if (line.length + 2 + note.length <= WIDTH && !note.includes("\n")) header = [`${line}  ${note}`];
        else header = [line, ...wrap(note, "#     ", WIDTH)];
    }
    return { key, readme: { type, default: dflt, meaning: decl.meaning }, pulumi, header };
}

export function keyDocs(): KeyDoc[] {
    return Object.entries(KEYS).map(([k, d]) => keyDoc(k, d as KeyDecl));
}

function wrap(text: string, prefix: string, width: number): string[] {
    const lines: string[] = [];
    let line = "";
    for (const word of text.split(/\s+/).filter(Boolean)) {
        if (line !== "" && prefix.length + line.length + 1 + word.length > width) {
            lines.push(prefix + line);
            line = word;
        } else line = line === "" ? word : `${line} ${word}`;
    }
    if (line !== "") lines.push(prefix + line);
    return lines;
}

// ---------------------------------------------------------------------------
// Pulumi.yaml
// ---------------------------------------------------------------------------

const PULUMI_HEADER = [
    `# Generated from ${SOURCE} (npm run config:docs -- --write): edit the keys`,
    "# there, not below this line.",
    "#",
    "# Scalar and list keys are declared here so `pulumi config` documents itself.",
    "# Pulumi makes a declared key without a default mandatory, so optional keys",
    '# default to "" (unset). Not declared here (Pulumi project config has no',
    "# object type, and declared secrets could not be optional), documented in",
    '# README.md "Configuration reference" and validated by lib/config.ts:',
];

/** A YAML scalar as Pulumi.yaml spells it: plain where YAML allows, else "" or single-quoted. */
function scalar(v: PulumiDefault): string {
    if (Array.isArray(v)) return `[${v.map((x) => scalar(x)).join(", ")}]`;
    if (typeof v !== "string") return String(v);
    if (v === "") return '""';
    const plain = YAML.stringify(v, { lineWidth: 0 }).replace(/\n$/, "");
    if (!/^["']/.test(plain) && !plain.includes("\n") && YAML.parse(plain) === v) return plain;
    return `'${v.replace(/'/g, "''")}'`;
}

/** Pulumi.yaml as the keys render it: `current`'s lines above its first comment (or `config:`) kept. */
export function renderPulumiYaml(current: string, docs: KeyDoc[] = keyDocs()): string {
    const lines = current.split("\n");
    const first = lines.findIndex((l) => l.startsWith("#") || l.startsWith("config:"));
    const preamble = first === -1 ? current.replace(/\n*$/, "\n\n") : `${lines.slice(0, first).join("\n")}\n`;
    if (!/^name:/m.test(preamble)) throw new Error("Pulumi.yaml: no `name:` above the generated part");

    const out = [...PULUMI_HEADER];
    for (const d of docs) if (d.header) out.push(...d.header);
    out.push("config:");
    for (const d of docs) {
        if (!d.pulumi) continue;
        out.push(`  ${NAMESPACE}:${d.key}:`, `    type: ${d.pulumi.type}`);
        if (d.pulumi.type === "array") out.push("    items:", "      type: string");
        out.push(`    description: ${scalar(d.pulumi.description)}`);
        if (d.pulumi.default !== undefined) out.push(`    default: ${scalar(d.pulumi.default)}`);
    }
    const rendered = `${preamble}${out.join("\n")}\n`;

    // The YAML must say exactly what the declarations say.
    const parsed = YAML.parse(rendered).config as Record<string, { type: string; description: string; default?: unknown }>;
    const want = Object.fromEntries(
        docs
            .filter((d) => d.pulumi)
            .map((d) => [`${NAMESPACE}:${d.key}`, { type: d.pulumi!.type, ...(d.pulumi!.type === "array" ? { items: { type: "string" } } : {}), description: d.pulumi!.description, ...(d.pulumi!.default !== undefined ? { default: d.pulumi!.default } : {}) }]),
    );
    if (JSON.stringify(parsed) !== JSON.stringify(want)) throw new Error(`Pulumi.yaml: the rendered YAML does not parse back to the declarations:\n${JSON.stringify(parsed)}\n${JSON.stringify(want)}`);
    return rendered;
}

// ---------------------------------------------------------------------------
// README.md
// ---------------------------------------------------------------------------

const cell = (s: string) => (s === "" ? " " : ` ${s.replace(/\\?\|/g, "\\|")} `);

/** The README table rows, one per key. */
export function renderTable(docs: KeyDoc[] = keyDocs()): string {
    const row = (cells: string[]) => `|${cells.map(cell).join("|")}|`;
    return [row(["key", "type", "default", "meaning"]), row(["---", "---", "---", "---"]), ...docs.map((d) => row([`\`${NAMESPACE}:${d.key}\``, d.readme.type, d.readme.default, d.readme.meaning]))].join("\n");
}

/** README.md with the table between the markers rendered from the keys. */
export function renderReadme(current: string, docs: KeyDoc[] = keyDocs()): string {
    const start = current.indexOf(`${TABLE_START}\n`);
    const end = current.indexOf(TABLE_END, start);
    if (start === -1 || end === -1 || current.indexOf(TABLE_START, start + 1) !== -1) {
        throw new Error(`README.md: put the configuration table between one ${TABLE_START} and one ${TABLE_END} line`);
    }
    return `${current.slice(0, start)}${TABLE_START}\n\n${renderTable(docs)}\n\n${current.slice(end)}`;
}

// ---------------------------------------------------------------------------
// Check or write
// ---------------------------------------------------------------------------

/** The changed lines between two texts (a line diff by longest common subsequence), `-`/`+` prefixed with line numbers. */
export function lineDiff(a: string, b: string, name: string): string[] {
    const x = a.split("\n");
    const y = b.split("\n");
    // Common head and tail first: the files differ in a few lines.
    let head = 0;
    while (head < x.length && head < y.length && x[head] === y[head]) head++;
    let tail = 0;
    while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
    const xs = x.slice(head, x.length - tail);
    const ys = y.slice(head, y.length - tail);
    const lcs: number[][] = Array.from({ length: xs.length + 1 }, () => new Array<number>(ys.length + 1).fill(0));
    for (let i = xs.length - 1; i >= 0; i--) for (let j = ys.length - 1; j >= 0; j--) lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    const out: string[] = [];
    let i = 0;
    let j = 0;
    while (i < xs.length || j < ys.length) {
        if (i < xs.length && j < ys.length && xs[i] === ys[j]) {
            i++;
            j++;
        } else if (i < xs.length && (j === ys.length || lcs[i + 1][j] >= lcs[i][j + 1])) {
            out.push(`${name}:${head + i + 1}: - ${xs[i++]}`);
        } else {
            out.push(`${name}:${head + i + 1}: + ${ys[j++]}`);
        }
    }
    return out;
}

export interface RunResult {
    code: number;
    output: string;
}

/** The command: check (default) or `--write`. */
export function run(args: readonly string[], root: string = ROOT): RunResult {
    const unknown = args.filter((a) => a !== "--write");
    if (unknown.length > 0) return { code: 2, output: `usage: config-docs [--write]  (unknown: ${unknown.join(" ")})\n` };
    const write = args.includes("--write");
    const files: Array<[string, (s: string) => string]> = [
        ["Pulumi.yaml", (s) => renderPulumiYaml(s)],
        ["README.md", (s) => renderReadme(s)],
    ];
    const out: string[] = [];
    let stale = 0;
    for (const [name, render] of files) {
        const file = path.join(root, name);
        const current = fs.readFileSync(file, "utf8");
        let wanted: string;
        try {
            wanted = render(current);
        } catch (e) {
            return { code: 1, output: `${(e as Error).message}\n` };
        }
        if (wanted === current) {
            out.push(`${name}: up to date`);
        } else if (write) {
            fs.writeFileSync(file, wanted);
            out.push(`${name}: written`);
        } else {
            stale++;
            out.push(`${name}: not what ${SOURCE} renders (- is the file, + what it should be):`, ...lineDiff(current, wanted, name).map((l) => `  ${l}`));
        }
    }
    if (stale > 0) out.push(`run: npm run config:docs -- --write`);
    return { code: stale > 0 ? 1 : 0, output: `${out.join("\n")}\n` };
}

if (require.main === module) {
    const r = run(process.argv.slice(2));
    (r.code === 0 ? process.stdout : process.stderr).write(r.output);
    process.exitCode = r.code;
}
