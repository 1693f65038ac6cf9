/** `berth pulumi-cli`: exit 0 when a working Pulumi CLI is on PATH (scripts/dev.sh asks). */
import { pulumiWorks } from "../support/source";

export function main(): number {
    return pulumiWorks() ? 0 : 1;
}
