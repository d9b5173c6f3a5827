import Foundation
import PipelineCore

/// A request the API refuses or could not serve, with the status it is answered with.
///
/// It renders in the shape the route's callers read: FastAPI's `{"detail": "..."}` on ffmpeg-whisper's routes
/// (pmoves-yt, flute-gateway), OpenAI's `{"error": {"message", "type", "param", "code"}}` on `/v1/...`.
struct APIError: Error, Sendable {
    /// Which shape the body takes.
    enum Shape: Sendable {
        case fastAPI
        case openAI
    }

    var status: Int
    var message: String
    /// OpenAI's error type: `invalid_request_error`, `authentication_error`, `server_error`, ...
    var type: String
    var parameter: String?
    var code: String?
    var headers: [(String, String)] = []

    init(
        _ status: Int, _ message: String, type: String? = nil, parameter: String? = nil, code: String? = nil,
        headers: [(String, String)] = []
    ) {
        self.status = status
        self.message = message
        let byStatus: String =
            switch status {
            case 401, 403: "authentication_error"
            case 404: "not_found_error"
            case 429, 503: "rate_limit_error"
            case 400..<500: "invalid_request_error"
            default: "server_error"
            }
        self.type = type ?? byStatus
        self.parameter = parameter
        self.code = code
        self.headers = headers
    }

    /// A request that names something invalid: 400 (422 where FastAPI would validate the shape).
    static func invalid(_ error: RequestError, status: Int = 400) -> APIError {
        APIError(status, error.description, parameter: error.field)
    }

    /// The response in `shape`.
    func response(_ shape: Shape) -> HTTPServerResponse {
        let body: JSONValue
        switch shape {
        case .fastAPI:
            body = .object(["detail": .string(self.message)])
        case .openAI:
            body = .object([
                "error": .object([
                    "message": .string(self.message), "type": .string(self.type),
                    "param": self.parameter.map(JSONValue.string) ?? .null,
                    "code": self.code.map(JSONValue.string) ?? .null,
                ])
            ])
        }
        return .json(body, status: self.status, headers: self.headers)
    }
}
