/**
 * The strings the CLI's redactor (cli/support/host.ts) hides, from one secret
 * configuration value: the value itself and every string inside it, at any
 * depth (a webhook URL sits in `berth:alerts.webhooks[].url`), except the
 * fields a secret object carries in clear (PLAIN_FIELDS): `berth:alerts` is
 * secret as a whole because of its URLs, but its `diskPaths` are what `berth
 * status` names in the open alerts.
 */
const PLAIN_FIELDS: Record<string, readonly string[]> = {
    "berth:alerts": ["diskPaths", "format"],
};

export function secretStrings(key: string, raw: string): string[] {
    const plain = new Set(PLAIN_FIELDS[key] ?? []);
    const out = [raw];
    const walk = (v: unknown): void => {
        if (typeof v === "string") out.push(v);
        else if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) if (!plain.has(k)) walk(x);
    };
    try {
        const parsed = JSON.parse(raw);
        if (parsed && typeof parsed === "object") walk(parsed);
    } catch {
        /* a plain string */
    }
    return out;
}
