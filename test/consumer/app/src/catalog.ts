/**
 * The shop's catalog and its pricing rules: plain data and pure functions, shared by the
 * service (which serves them) and the client checks (which know what to expect).
 */
import type { MessageInitShape } from "@bufbuild/protobuf"
import { Category, type ItemSchema } from "../gen/acme/shop/v1/shop_pb.ts"
import type { Money, MoneySchema } from "../gen/acme/shop/v1/money_pb.ts"

/** The only currency the shop takes. */
export const CURRENCY = "EUR"

/** `units.nanos` EUR as a message init. */
export const eur = (units: bigint, nanos = 0): MessageInitShape<typeof MoneySchema> => ({ currencyCode: CURRENCY, units, nanos })

/** Every item, in SKU order. */
export const catalog: ReadonlyArray<MessageInitShape<typeof ItemSchema> & { readonly sku: string }> = [
  {
    sku: "BK-001",
    name: "The Pragmatic Programmer",
    category: Category.BOOK,
    price: eur(39n, 900_000_000),
    tags: ["programming", "classic"],
    attributes: { author: "Hunt & Thomas", pages: "352" },
    addedAt: { seconds: 1705311000n, nanos: 0 }, // 2024-01-15T09:30:00Z
    dimensions: { widthCm: 18.7, heightCm: 23.5, depthCm: 2.5 },
    availability: { case: "inStock", value: 12 }
  },
  {
    sku: "BK-002",
    name: "Effect in Practice",
    category: Category.BOOK,
    price: eur(45n),
    tags: ["typescript"],
    attributes: { author: "Anonymous", "édition": "1ʳᵉ" },
    addedAt: { seconds: 1740787200n, nanos: 500_000_000 }, // 2025-03-01T00:00:00.500Z
    dimensions: { widthCm: 15, heightCm: 22.9, depthCm: 1.8 },
    availability: { case: "restockIn", value: { seconds: 259_200n, nanos: 0 } } // 3 days
  },
  {
    sku: "FD-001",
    name: "Dark Chocolate 85%",
    category: Category.FOOD,
    price: eur(2n, 490_000_000),
    tags: ["vegan", "fair-trade"],
    attributes: { cocoa: "85%", origin: "Ecuador" },
    addedAt: { seconds: 1700502300n, nanos: 0 }, // 2023-11-20T17:45:00Z
    dimensions: { widthCm: 8, heightCm: 16, depthCm: 0.9 },
    availability: { case: "inStock", value: 240 }
  },
  {
    sku: "TL-001",
    name: "Torque Wrench",
    category: Category.TOOL,
    price: eur(89n, 990_000_000),
    tags: [],
    attributes: {},
    addedAt: { seconds: 1720080000n, nanos: 0 }, // 2024-07-04T08:00:00Z
    dimensions: { widthCm: 45, heightCm: 6, depthCm: 4 },
    availability: { case: "restockIn", value: { seconds: 5_400n, nanos: 250_000_000 } } // 1h30m0.25s
  }
]

/** The SKU clients use to provoke the `not_found` error. */
export const MISSING_SKU = "BK-404"

/**
 * Response headers and error metadata the service sets for clients to check; a server answering
 * browsers on other origins must expose them (CORS `exposedHeaders`).
 */
export const EXPOSED_HEADERS: ReadonlyArray<string> = ["x-shop-protocol", "x-shop-http-method", "x-shop-hint"]

/** The item with this SKU. */
export const findItem = (sku: string) => catalog.find((item) => item.sku === sku)

/** Units in stock of an item (0 while it is being restocked). */
export const unitsInStock = (item: (typeof catalog)[number]): number =>
  item.availability?.case === "inStock" ? item.availability.value : 0

/** SKUs sharing the first two characters of `sku` (suggested when it is unknown). */
export const suggestionsFor = (sku: string): Array<string> =>
  catalog.filter((item) => item.sku.slice(0, 2) === sku.slice(0, 2)).map((item) => item.sku)

/** When every order is placed (fixed so that clients can check it): 2025-06-01T12:00:00Z. */
export const ORDER_PLACED_AT = { seconds: 1748779200n, nanos: 0 }

const NANOS = 1_000_000_000n

/** An amount of money in nano units (money of another currency is refused by the callers). */
export const toNanos = (money: Pick<Money, "units" | "nanos"> | MessageInitShape<typeof MoneySchema> | undefined): bigint =>
  money === undefined ? 0n : BigInt(money.units ?? 0n) * NANOS + BigInt(money.nanos ?? 0)

/** Nano units back to money (EUR). */
export const fromNanos = (nanos: bigint): MessageInitShape<typeof MoneySchema> => eur(nanos / NANOS, Number(nanos % NANOS))

/** The haggling rule: at least the price is accepted, at least half of it gets the midpoint back. */
export const haggle = (
  priceNanos: bigint,
  offerNanos: bigint
): { readonly case: "accepted" | "counterOffer"; readonly value: bigint } | { readonly case: "rejectedReason"; readonly value: string } =>
  offerNanos >= priceNanos
    ? { case: "accepted", value: offerNanos }
    : offerNanos * 2n >= priceNanos
    ? { case: "counterOffer", value: (offerNanos + priceNanos) / 2n }
    : { case: "rejectedReason", value: "offer is below half the price" }
