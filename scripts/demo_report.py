#!/usr/bin/env python3
"""Formats audio-worker JSON for the demo: `chain` (config check output) or `jobs` (jobs list output), on stdin."""
import json
import sys


def chain(report):
    for function in report["functions"]:
        for provider in function["chain"]:
            if provider.get("skipped"):
                state = "skipped: " + provider["skipped"]
            else:
                state = "reachable" if provider.get("reachable") else "unreachable"
            route = "{}/{}".format(provider["model"], provider["provider"])
            print("  {:24} {:13} {:30} {}".format(function["function"], provider["variant"], route, state))


def jobs(records):
    for job in reversed(records):
        spec = job["payload"].get("transcription") or job["payload"].get("synthesis")
        name = spec.get("input", "text").split("/")[-1]
        line = "  {:10} {:24} {:9}".format(job["kind"], name, job["status"])
        result = job.get("result") or {}
        if job["status"] == "succeeded" and job["kind"] == "transcribe":
            line += " {:6.2f} s, {} chunk(s): {}".format(result["duration"], len(result["chunks"]), result["text"][:60])
        elif job["status"] == "succeeded":
            line += " {:.2f} s of speech -> {}".format(result["duration"], job["outputs"][0])
        else:
            line += " " + (job.get("error") or {}).get("message", "")
        print(line)


if __name__ == "__main__":
    {"chain": chain, "jobs": jobs}[sys.argv[1]](json.load(sys.stdin))
