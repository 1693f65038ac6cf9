/** Imported first by policy tests: the pack must not start serving an engine. */
process.env.BERTH_POLICY_UNIT_TEST = "1";
