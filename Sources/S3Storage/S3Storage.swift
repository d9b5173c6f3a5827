import PipelineCore

/// Placeholder until the S3 store lands.
package enum S3StoragePlaceholder {}
