import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

/**
 * Tests run the packages' TypeScript sources (the "@connect-effect/source" export condition),
 * then vitest's own server conditions (Vite's without "module", whose builds are for bundlers).
 */
const conditions = ["@connect-effect/source", ...defaultServerConditions.filter((c) => c !== "module")]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "examples/*/test/**/*.test.ts",
      "conformance/test/**/*.test.ts",
      "test/**/*.test.ts"
    ],
    // its own stage of `npm test` (test/consumer/vitest.config.ts): it packs, installs and starts runtimes
    exclude: ["test/consumer/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks"
  }
})
