/** The agent's version, reported in status messages; a test keeps it equal to package.json. */
export const AGENT_VERSION = '0.1.0';
