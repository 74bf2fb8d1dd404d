/**
 * gRPC health checking (`grpc.health.v1.Health`): `Check`, `List` and `Watch`, answered from the
 * statuses kept in the {@link HealthStatus} service, so that any part of the program can mark a
 * service serving or not serving and every watcher hears of it at once.
 *
 * The service name `""` stands for the server as a whole. A service nobody has set a status for
 * is unknown: `Check` fails with `not_found`, `Watch` reports `SERVICE_UNKNOWN` and stays open
 * until the service becomes known (as the gRPC health checking protocol prescribes).
 *
 * @since 0.1.0
 */
import type { DescService } from "@bufbuild/protobuf"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as ConnectError from "../ConnectError.ts"
import * as Router from "../Router.ts"
import { Health as HealthService, type HealthHandlers } from "../gen/grpc/health/v1/health_connect.ts"
import { Health as HealthDescriptor, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.ts"

export {
  /**
   * The generated service tag of `grpc.health.v1.Health`: serve it with `Router.fromServices(HealthService)`.
   *
   * @category services
   * @since 0.1.0
   */
  HealthService,
  /**
   * The descriptor of `grpc.health.v1.Health`.
   *
   * @category descriptors
   * @since 0.1.0
   */
  HealthDescriptor
}
/**
 * The generated client of `grpc.health.v1.Health` (a `Context.Service` with a `layer` over a `Transport`).
 *
 * @category clients
 * @since 0.1.0
 */
export { HealthClient } from "../gen/grpc/health/v1/health_connect.ts"
/** The generated messages of `grpc/health/v1/health.proto`. */
export * as HealthProto from "../gen/grpc/health/v1/health_pb.ts"

/**
 * The status of a service, as set by the program.
 *
 * @category models
 * @since 0.1.0
 */
export type ServingStatus = "SERVING" | "NOT_SERVING" | "UNKNOWN"

/**
 * What a watcher sees: a status, or `SERVICE_UNKNOWN` while nobody has set one.
 *
 * @category models
 * @since 0.1.0
 */
export type WatchedStatus = ServingStatus | "SERVICE_UNKNOWN"

/**
 * The name under which the status of the whole server is kept.
 *
 * @category constants
 * @since 0.1.0
 */
export const overall = ""

/**
 * The status book behind the health service.
 *
 * @category models
 * @since 0.1.0
 */
export interface HealthStatusShape {
  /** Sets the status of a service (`""`: the whole server); watchers see the change at once. */
  readonly set: (service: string, status: ServingStatus) => Effect.Effect<void>
  /** Forgets a service: `Check` answers `not_found` again, watchers see `SERVICE_UNKNOWN`. */
  readonly clear: (service: string) => Effect.Effect<void>
  /** The status of a service, `undefined` when it is unknown. */
  readonly get: (service: string) => Effect.Effect<ServingStatus | undefined>
  /** Every known service with its status. */
  readonly all: Effect.Effect<ReadonlyMap<string, ServingStatus>>
  /**
   * The status of a service now, then after every change (repeated values are dropped). The
   * stream ends only after {@link HealthStatusShape.shutdown}; interrupting it releases its
   * subscription.
   */
  readonly watch: (service: string) => Stream.Stream<WatchedStatus>
  /**
   * For the end of the program: marks every known service and the server `NOT_SERVING`, ends
   * every Watch stream once it has sent that (clients see the call complete, so a graceful
   * shutdown need not wait for them), and ignores later changes.
   */
  readonly shutdown: Effect.Effect<void>
}

interface Book {
  readonly statuses: ReadonlyMap<string, ServingStatus>
  readonly shutdown: boolean
}

/**
 * Builds a status book. `initial` defaults to the whole server (`""`) being `SERVING`; add
 * the names of your services (`"pkg.Service"`) to answer for them too.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  initial: Readonly<Record<string, ServingStatus>> = { [overall]: "SERVING" }
): Effect.Effect<HealthStatusShape> =>
  Effect.map(
    SubscriptionRef.make<Book>({ statuses: new Map(Object.entries(initial)), shutdown: false }),
    (ref): HealthStatusShape => {
      /** Applies `f` to a copy of the statuses; publishes only when it reports a change. */
      const update = (f: (statuses: Map<string, ServingStatus>) => boolean, shutdown = false) =>
        SubscriptionRef.updateSome(ref, (book): Option.Option<Book> => {
          if (book.shutdown) return Option.none()
          const statuses = new Map(book.statuses)
          return f(statuses) || shutdown ? Option.some({ statuses, shutdown }) : Option.none()
        })
      const statuses = Effect.map(SubscriptionRef.get(ref), (book) => book.statuses)
      return {
        set: (service, status) =>
          update((statuses) => {
            if (statuses.get(service) === status) return false
            statuses.set(service, status)
            return true
          }),
        clear: (service) => update((statuses) => statuses.delete(service)),
        get: (service) => Effect.map(statuses, (all) => all.get(service)),
        all: statuses,
        watch: (service) =>
          SubscriptionRef.changes(ref).pipe(
            Stream.takeUntil((book) => book.shutdown),
            Stream.map((book): WatchedStatus => book.statuses.get(service) ?? "SERVICE_UNKNOWN"),
            Stream.changes
          ),
        shutdown: update((statuses) => {
          for (const service of statuses.keys()) statuses.set(service, "NOT_SERVING")
          statuses.set(overall, "NOT_SERVING")
          return true
        }, true)
      }
    }
  )

/**
 * The statuses the health service reports. Share one instance between the health service and
 * the code that changes statuses (provide the same layer value to both).
 *
 * @category services
 * @since 0.1.0
 */
export class HealthStatus extends Context.Service<HealthStatus, HealthStatusShape>()(
  "@connect-effect/core/HealthStatus"
) {
  /** A status book in which the whole server (`""`) is `SERVING` and no service is known yet. */
  static readonly layer: Layer.Layer<HealthStatus> = Layer.effect(HealthStatus, make())
  /** A status book starting from `initial` (service name → status). */
  static readonly layerWith = (initial: Readonly<Record<string, ServingStatus>>): Layer.Layer<HealthStatus> =>
    Layer.effect(HealthStatus, make(initial))
}

/**
 * The initial statuses `SERVING` for the server (`""`) and for each of the given services.
 *
 * @category constructors
 * @since 0.1.0
 */
export const servingAll = (
  ...services: ReadonlyArray<DescService | Router.ServiceTag | string>
): Record<string, ServingStatus> => {
  const statuses: Record<string, ServingStatus> = { [overall]: "SERVING" }
  for (const s of services) {
    statuses[typeof s === "string" ? s : "descriptor" in s ? s.descriptor.typeName : s.typeName] = "SERVING"
  }
  return statuses
}

const wire: Record<WatchedStatus, HealthCheckResponse_ServingStatus> = {
  UNKNOWN: HealthCheckResponse_ServingStatus.UNKNOWN,
  SERVING: HealthCheckResponse_ServingStatus.SERVING,
  NOT_SERVING: HealthCheckResponse_ServingStatus.NOT_SERVING,
  SERVICE_UNKNOWN: HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN
}

/**
 * The name of a status number from the wire (a client's view); numbers this version does not know are `UNKNOWN`.
 *
 * @category conversions
 * @since 0.1.0
 */
export const statusName = (status: HealthCheckResponse_ServingStatus): WatchedStatus => {
  for (const name of Object.keys(wire) as Array<WatchedStatus>) if (wire[name] === status) return name
  return "UNKNOWN"
}

/**
 * The most services `List` answers with (the protocol's limit); more fail with `resource_exhausted`.
 *
 * @category constants
 * @since 0.1.0
 */
export const listLimit = 100

/**
 * The handlers of `grpc.health.v1.Health` over a status book.
 *
 * @category handlers
 * @since 0.1.0
 */
export const makeHandlers = (status: HealthStatusShape): HealthHandlers => ({
  check: (request) =>
    Effect.flatMap(status.get(request.service), (s) =>
      s === undefined
        ? Effect.fail(ConnectError.make("not_found", `unknown service ${JSON.stringify(request.service)}`))
        : Effect.succeed({ status: wire[s] })),
  list: () =>
    Effect.flatMap(status.all, (statuses) => {
      if (statuses.size > listLimit) {
        return Effect.fail(
          ConnectError.make("resource_exhausted", `${statuses.size} services exceed the limit of ${listLimit}`)
        )
      }
      const out: Record<string, { status: HealthCheckResponse_ServingStatus }> = {}
      for (const [service, s] of statuses) out[service] = { status: wire[s] }
      return Effect.succeed({ statuses: out })
    }),
  watch: (request) => Stream.map(status.watch(request.service), (s) => ({ status: wire[s] }))
})

/**
 * The health service as a Layer over the {@link HealthStatus} in context; serve it with
 * `Router.fromServices(..., HealthService)`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<HealthService, never, HealthStatus> = HealthService.layer(
  Effect.map(Effect.service(HealthStatus), makeHandlers)
)

const contextHandlers: HealthHandlers<HealthStatus> = {
  check: (request, call) => Effect.flatMap(Effect.service(HealthStatus), (s) => makeHandlers(s).check(request, call)),
  list: (request, call) => Effect.flatMap(Effect.service(HealthStatus), (s) => makeHandlers(s).list(request, call)),
  watch: (request, call) =>
    Stream.unwrap(Effect.map(Effect.service(HealthStatus), (s) => makeHandlers(s).watch(request, call)))
}

/**
 * Adds `grpc.health.v1.Health` to a router (or to an effect building one, such as
 * `Router.fromServices(...)`); the router then requires {@link HealthStatus}.
 *
 * @category combinators
 * @since 0.1.0
 */
export function add<R>(router: Router.Router<R>): Router.Router<R | HealthStatus>
export function add<R, E, R2>(
  router: Effect.Effect<Router.Router<R>, E, R2>
): Effect.Effect<Router.Router<R | HealthStatus>, E, R2>
export function add(
  router: Router.Router<any> | Effect.Effect<Router.Router<any>, any, any>
): Router.Router<any> | Effect.Effect<Router.Router<any>, any, any> {
  const addTo = (r: Router.Router<any>) => Router.service(r, HealthDescriptor, contextHandlers)
  return Effect.isEffect(router) ? Effect.map(router, addTo) : addTo(router)
}
