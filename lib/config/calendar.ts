/**
 * systemd calendar expressions (`OnCalendar=`, systemd.time(7) "Calendar
 * Events"), checked at configuration time without running systemd.
 *
 * The grammar is systemd's (calendarspec.c): an optional weekday list, an
 * optional date `[YEAR-]MONTH-DAY` (or `MONTH~DAY`, the DAYth last day), an
 * optional time `HOUR:MINUTE[:SECOND[.FRACTION]]`, an optional time zone;
 * each date/time field a `,` list of `*`, `N`, `N..M`, `N/R`, `N..M/R`; or
 * one of the shorthands (`daily`, ...) or `@<epoch seconds>`.
 *
 * It accepts a subset of what systemd accepts and never more: what this
 * accepts, `systemd-analyze calendar` accepts too (test/unit/calendar.test.ts
 * holds a table of expressions against the real tool). Left out, on purpose:
 * a `*` inside a list (`*,5`), a repetition after `~` (`*-02~07/1`), more
 * than 6 fraction digits, and time zones other than UTC and the IANA names
 * the runtime knows (`Europe/Berlin`; not `EST`, `Etc/UTC`).
 */

const SHORTHANDS = new Set(["minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "quarterly", "semiannually"]);
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
/** 2200-01-01T00:00:00Z: systemd's calendar years end at 2199. */
const EPOCH_MAX = 7258118400;

let zones: Set<string> | undefined;
function isTimeZone(v: string): boolean {
    if (v.toUpperCase() === "UTC") return true;
    zones ??= new Set(Intl.supportedValuesOf("timeZone"));
    return zones.has(v);
}

function weekday(v: string): number {
    const l = v.toLowerCase();
    return WEEKDAYS.findIndex((d) => d === l || d.slice(0, 3) === l);
}

/** `Mon`, `Mon..Fri`, `Mon-Fri`, `Sat,Sun`: days (full or three letters), ranges forward only. */
function isWeekdays(v: string): boolean {
    return v.split(",").every((item) => {
        const m = /^([A-Za-z]+)(?:(?:\.\.|-)([A-Za-z]+))?$/.exec(item);
        if (!m) return false;
        const a = weekday(m[1]);
        const b = m[2] === undefined ? a : weekday(m[2]);
        return a >= 0 && b >= a;
    });
}

interface Field {
    readonly min: number;
    readonly max: number;
    /** Seconds: values and repetitions may carry up to 6 fraction digits. */
    readonly fraction?: boolean;
    /** Years: two digits mean 1970-2069 (systemd's reading). */
    readonly year?: boolean;
    /** After `~`: no repetition. */
    readonly noRepeat?: boolean;
}

function fieldValue(text: string, f: Field): number | undefined {
    const re = f.fraction ? /^\d+(\.\d{1,6})?$/ : /^\d+$/;
    if (!re.test(text)) return undefined;
    let n = Number(text);
    if (f.year && text.length <= 2) n += n < 70 ? 2000 : 1900;
    return n >= f.min && n <= f.max ? n : undefined;
}

/** One date or time field: `*`, or a `,` list of `N`, `N..M`, each with an optional `/R`. */
function isField(v: string, f: Field): boolean {
    if (v === "*") return true;
    return v.split(",").every((item) => {
        const m = /^([0-9.]+?)(?:\.\.([0-9.]+?))?(?:\/([0-9.]+))?$/.exec(item);
        if (!m) return false;
        const a = fieldValue(m[1], f);
        const b = m[2] === undefined ? a : fieldValue(m[2], f);
        if (a === undefined || b === undefined || b < a) return false;
        if (m[3] === undefined) return true;
        if (f.noRepeat) return false;
        const r = (f.fraction ? /^\d+(\.\d{1,6})?$/ : /^\d+$/).test(m[3]) ? Number(m[3]) : 0;
        return r > 0;
    });
}

const YEAR: Field = { min: 1970, max: 2199, year: true };
const MONTH: Field = { min: 1, max: 12 };
const DAY: Field = { min: 1, max: 31 };
const LAST_DAY: Field = { min: 1, max: 28, noRepeat: true };

/** `[YEAR-]MONTH-DAY`, `[YEAR-]MONTH~DAY`. */
function isDate(v: string): boolean {
    const parts = v.split(/([-~])/);
    if (parts.length === 3) {
        const [month, sep, day] = parts;
        return isField(month, MONTH) && isField(day, sep === "~" ? LAST_DAY : DAY);
    }
    if (parts.length === 5 && parts[1] === "-") {
        const [year, , month, sep, day] = parts;
        return isField(year, YEAR) && isField(month, MONTH) && isField(day, sep === "~" ? LAST_DAY : DAY);
    }
    return false;
}

/** `HOUR:MINUTE[:SECOND]`. */
function isTime(v: string): boolean {
    const [h, m, s, ...more] = v.split(":");
    if (m === undefined || more.length > 0) return false;
    return isField(h, { min: 0, max: 23 }) && isField(m, { min: 0, max: 59 }) && (s === undefined || isField(s, { min: 0, max: 59.999999, fraction: true }));
}

/** True when `v` is a calendar expression systemd accepts (see the file's comment for the subset). */
export function isCalendarExpression(v: string): boolean {
    if (v.length === 0 || v.length > 200 || !/^[A-Za-z0-9*:,.\/~ @_+-]+$/.test(v) || v.trim() !== v) return false;
    const tokens = v.split(/ +/);
    if (tokens.length > 1 && isTimeZone(tokens[tokens.length - 1])) tokens.pop();
    if (tokens.length === 1 && SHORTHANDS.has(tokens[0].toLowerCase())) return true;
    if (tokens.length === 1 && /^@\d{1,10}$/.test(tokens[0])) return Number(tokens[0].slice(1)) < EPOCH_MAX;
    let i = 0;
    const days = /^[A-Za-z]/.test(tokens[0]) ? isWeekdays(tokens[i++]) : undefined;
    if (days === false) return false;
    const rest = tokens.slice(i);
    if (rest.length === 0) return days === true;
    if (rest.length === 1) return rest[0].includes(":") ? isTime(rest[0]) : isDate(rest[0]);
    return rest.length === 2 && !rest[0].includes(":") && isDate(rest[0]) && isTime(rest[1]);
}
