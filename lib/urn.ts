/**
 * Reading Pulumi URNs: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`
 * (pulumi/pulumi sdk/go/common/resource/urn.go). The qualified type is the
 * parent chain's types joined by `$`; type names never contain `::`, resource
 * names may, so the name is everything after the third `::`.
 */

/** `a$b$c` of a URN: the parent chain's types and the resource's own. */
export function qualifiedType(urn: string): string {
    return urn.split("::")[2];
}

/** The resource's own type: the last of the qualified type's `$`-joined chain. */
export function urnType(urn: string): string {
    return qualifiedType(urn).split("$").pop()!;
}

/** The resource's name (may itself contain `::`). */
export function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}
