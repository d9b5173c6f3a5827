/// A gateway function resolved to clients: candidates drawn by weight, fallbacks in order, and extra variants
/// from the worker's file at their stated places.
package struct FunctionRoute<Client: Sendable>: Sendable {
    /// The function's name.
    package var function: String
    /// Variants drawn by weight, without replacement, first.
    package var candidates: [(variant: RouteVariant<Client>, weight: Double)]
    /// Variants tried in order after the candidates.
    package var fallbacks: [RouteVariant<Client>]
    /// Extra variants and their positions (`first`, `last`, `before:NAME`, `after:NAME`), applied in order.
    package var extras: [(variant: RouteVariant<Client>, position: String)]

    /// Creates a route.
    package init(
        function: String, candidates: [(variant: RouteVariant<Client>, weight: Double)],
        fallbacks: [RouteVariant<Client>], extras: [(variant: RouteVariant<Client>, position: String)] = []
    ) {
        self.function = function
        self.candidates = candidates
        self.fallbacks = fallbacks
        self.extras = extras
    }

    /// The variants in the order to try them for one request, as TensorZero samples them.
    package func ordered(using random: RandomSource) -> [RouteVariant<Client>] {
        var pool = self.candidates.filter { $0.weight > 0 }
        var order: [RouteVariant<Client>] = []
        while !pool.isEmpty {
            let total = pool.reduce(0) { $0 + $1.weight }
            var target = random.unit() * total
            var chosen = pool.count - 1
            for (index, entry) in pool.enumerated() {
                target -= entry.weight
                if target < 0 {
                    chosen = index
                    break
                }
            }
            order.append(pool.remove(at: chosen).variant)
        }
        order += self.fallbacks
        for extra in self.extras {
            order.insert(extra.variant, at: Self.index(for: extra.position, in: order))
        }
        return order
    }

    /// Every variant once, in declaration terms (candidates, fallbacks, extras), for display.
    package var allVariants: [RouteVariant<Client>] {
        self.candidates.map(\.variant) + self.fallbacks + self.extras.map(\.variant)
    }

    private static func index(for position: String, in order: [RouteVariant<Client>]) -> Int {
        if position == "first" {
            return 0
        }
        if position.hasPrefix("before:"), let found = order.firstIndex(where: { $0.name == position.dropFirst(7) }) {
            return found
        }
        if position.hasPrefix("after:"), let found = order.firstIndex(where: { $0.name == position.dropFirst(6) }) {
            return found + 1
        }
        return order.count
    }
}

/// One variant resolved: its retry policy and its model's providers in routing order.
package struct RouteVariant<Client: Sendable>: Sendable {
    /// The variant's name.
    package var name: String
    /// Retries of the whole variant.
    package var retries: RetrySettings
    /// The time allowed for the variant, retries included.
    package var timeout: Duration?
    /// Providers in routing order.
    package var providers: [RouteProvider<Client>]

    /// Creates a variant.
    package init(name: String, retries: RetrySettings, timeout: Duration?, providers: [RouteProvider<Client>]) {
        self.name = name
        self.retries = retries
        self.timeout = timeout
        self.providers = providers
    }
}

/// One provider resolved: a client to call, or why it is skipped.
package struct RouteProvider<Client: Sendable>: Sendable {
    /// The model it serves.
    package var model: String
    /// Its name within the model.
    package var name: String
    /// The client, or nil when the provider is skipped.
    package var client: Client?
    /// Why it is skipped (no key, no audio API, ...), when it is.
    package var skipReason: String?
    /// Requests it may have in flight at once, across the process (`max_concurrency`).
    package var maxConcurrency: Int
    /// Whether it bills: what it is sent counts against the cloud caps of ``ProviderBudget``.
    package var isCloud: Bool

    /// Creates a provider.
    package init(
        model: String, name: String, client: Client?, skipReason: String? = nil,
        maxConcurrency: Int = AudioProviderSettings.defaultMaxConcurrency, isCloud: Bool = false
    ) {
        self.isCloud = isCloud
        self.model = model
        self.name = name
        self.client = client
        self.skipReason = skipReason
        self.maxConcurrency = maxConcurrency
    }

    /// The circuit breaker's key.
    package var key: String { "\(self.model)/\(self.name)" }
}
