import { defineConfig } from "vitest/config"

/** The consumer test (its own stage of `npm test`): one file, run alone, with long timeouts. */
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ["consumer.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 900_000,
    pool: "forks",
    fileParallelism: false
  }
})
