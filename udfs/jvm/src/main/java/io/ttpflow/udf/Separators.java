package io.ttpflow.udf;

/**
 * The control characters that frame the functions' state and results: they never occur in the JSON
 * text, host and user names and ids they join (udfs/correlate/sql/common.py names the same ones).
 */
final class Separators {
    static final String US = "\u001f";
    static final String RS = "\u001e";
    static final String GS = "\u001d";
    static final String FS = "\u001c";

    private Separators() {
    }
}
