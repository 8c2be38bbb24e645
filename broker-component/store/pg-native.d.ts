/** The part of pg-native (node-postgres' libpq binding) the PostgreSQL store uses: its synchronous calls. */
declare module 'pg-native' {
  type TypeParsers = { getTypeParser(oid: number, format?: string): (text: string) => unknown };
  /** libpq's connection (the `libpq` package). */
  interface PQ {
    /** 0 idle, 1 active, 2 in a transaction, 3 in a failed transaction, 4 unknown (the connection is bad). */
    transactionStatus(): number;
    /** Rows changed by the last command, as text ('' when none). */
    cmdTuples(): string;
    resultErrorFields(): { sqlState?: string; messagePrimary?: string } | undefined;
    finish(): void;
  }
  class Client {
    constructor(config?: { types?: TypeParsers; arrayMode?: boolean });
    pq: PQ;
    connectSync(conninfo: string): void;
    querySync(text: string, values?: (string | null)[]): Record<string, unknown>[];
    prepareSync(name: string, text: string, nParams: number): void;
    executeSync(name: string, values: (string | null)[]): Record<string, unknown>[];
  }
  export default Client;
}
