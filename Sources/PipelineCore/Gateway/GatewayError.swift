/// A request the gateway could not serve, with every attempt made.
package struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why it stopped.
    package enum Reason: Sendable, Equatable {
        /// Every provider was tried (or skipped) and none succeeded.
        case exhausted
        /// A provider rejected the input itself; no other was tried.
        case rejected(String)
        /// The function has no usable provider at all.
        case noProviders
        /// The job's ``ProviderBudget`` allows nothing more to be sent.
        case budgetSpent(String)
    }

    /// The gateway function.
    package var function: String
    /// Why it stopped.
    package var reason: Reason
    /// Every attempt, in order.
    package var attempts: [GatewayAttempt]

    /// Creates an error.
    package init(function: String, reason: Reason, attempts: [GatewayAttempt]) {
        self.function = function
        self.reason = reason
        self.attempts = attempts
    }

    /// Whether retrying the job cannot help: the input itself was refused, or the job spent its budget.
    package var isPermanent: Bool {
        switch self.reason {
        case .rejected, .budgetSpent: true
        case .exhausted, .noProviders: false
        }
    }

    package var description: String {
        switch self.reason {
        case .exhausted:
            let tried = self.attempts.map(\.summary).joined(separator: "; ")
            return "every provider of \(self.function) failed: \(tried)"
        case .rejected(let message):
            return "\(self.function) rejected the input: \(message)"
        case .noProviders:
            let skipped = self.attempts.map(\.summary).joined(separator: "; ")
            return "\(self.function) has no usable provider" + (skipped.isEmpty ? "" : ": \(skipped)")
        case .budgetSpent(let message):
            return "\(self.function): \(message)"
        }
    }
}
