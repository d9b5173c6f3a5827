// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "audio-worker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "audio-worker", targets: ["audio-worker"])
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavutil libswresample",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswresample-dev"])]
        ),
        .target(name: "PipelineCore", swiftSettings: swiftSettings),
        .target(name: "AudioMedia", dependencies: ["CFFmpeg", "PipelineCore"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "audio-worker",
            dependencies: ["PipelineCore", "AudioMedia"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PipelineCoreTests", dependencies: ["PipelineCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AudioMediaTests",
            dependencies: ["AudioMedia", "PipelineCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["audio-worker", "PipelineCore"],
            swiftSettings: swiftSettings
        ),
    ]
)
