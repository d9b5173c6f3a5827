internal import CMicroHTTPD
import PipelineCore

/// Placeholder until the server lands.
package enum HTTPServerPlaceholder {}
