package io.ttpflow.udf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.flink.table.functions.AggregateFunction;

import static io.ttpflow.udf.Separators.US;
import static io.ttpflow.udf.Separators.RS;
import static io.ttpflow.udf.Separators.GS;

/**
 * Tactic progression per group, as an aggregate over the group's hits in event-time order
 * ({@code OVER (PARTITION BY group ORDER BY rt ROWS UNBOUNDED PRECEDING)}): the value for a hit is
 * the chain its arrival completes, or null.
 *
 * <p>A line-by-line port of the reference engine, {@code udfs/correlate/progression.py}
 * (ProgressionRuntime.on_record): the same table of best chains per (tactic, length), the same
 * iteration order (insertion order, as Python dicts keep it), the same tie-breaking, so that the
 * differential test can require identical alerts. Ordered mode: a chain of hits whose tactics climb
 * the kill chain within the window; unordered: the latest hit per tactic. One alert per progression,
 * then the group starts over.
 *
 * <p>State (the accumulator) is plain strings, versioned by {@link #STATE_VERSION}: chains as
 * {@code tactic US length US start US tactic RS ref GS tactic RS ref ...}, evidence bundles by hit id.
 *
 * <p>Arguments per hit: event time (ms), hit id ({@code <event hash>:<rule id>}), the hit's tactics
 * that the rule counts (comma-separated, in kill-chain order), the hit's evidence bundle (opaque
 * text handed back in the result), the window (ms), the tactics needed, ordered or not, and the
 * rule's tactic order (comma-separated). Result: the chain's links, {@code tactic GS bundle}, joined
 * by RS.
 */
public class TacticProgression extends AggregateFunction<String, TacticProgression.Acc> {
    public static final int STATE_VERSION = 1;

    /** The state of one group. */
    public static class Acc {
        public int version = STATE_VERSION;
        public String[] chains = new String[0];
        public Map<String, String> ev = new HashMap<>();
        public String result;
    }

    static final class Chain {
        final long start;
        final List<String[]> links;

        Chain(long start, List<String[]> links) {
            this.start = start;
            this.links = links;
        }
    }

    private transient String cachedOrder;
    private transient Map<String, Integer> rank;

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    @Override
    public String getValue(Acc acc) {
        return acc.result;
    }

    public void accumulate(Acc acc, Long ts, String ref, String tactics, String bundle, Long within, Integer need,
                           Boolean ordered, String order) {
        acc.result = null;
        if (ts == null || ref == null || tactics == null || tactics.isEmpty()) {
            return;
        }
        Map<String, Integer> ranks = ranks(order);
        LinkedHashMap<String, LinkedHashMap<Integer, Chain>> ends = decode(acc.chains);
        prune(ends, acc.ev, ts - within);
        acc.ev.put(ref, bundle == null ? "" : bundle);
        List<String> hitTactics = List.of(tactics.split(","));
        Chain best = Boolean.TRUE.equals(ordered)
                ? extendOrdered(ends, hitTactics, ts, ref, need, ranks)
                : extendUnordered(ends, hitTactics, ts, ref, need, ranks);
        if (best != null) {
            List<String> out = new ArrayList<>();
            for (String[] link : best.links) {
                out.add(link[0] + GS + acc.ev.get(link[1]));
            }
            acc.result = String.join(RS, out);
            acc.chains = new String[0];
            acc.ev = new HashMap<>();
            return;
        }
        collect(ends, acc.ev);
        acc.chains = encode(ends);
    }

    private Map<String, Integer> ranks(String order) {
        if (rank == null || !order.equals(cachedOrder)) {
            rank = new HashMap<>();
            String[] names = order.split(",");
            for (int i = 0; i < names.length; i++) {
                rank.put(names[i], i);
            }
            cachedOrder = order;
        }
        return rank;
    }

    static String eventOf(String ref) {
        int colon = ref.indexOf(':');
        return colon < 0 ? ref : ref.substring(0, colon);
    }

    static void prune(LinkedHashMap<String, LinkedHashMap<Integer, Chain>> ends, Map<String, String> ev,
                      long horizon) {
        boolean changed = false;
        for (String tactic : new ArrayList<>(ends.keySet())) {
            LinkedHashMap<Integer, Chain> byLen = ends.get(tactic);
            boolean allIn = byLen.values().stream().allMatch(c -> c.start >= horizon);
            if (allIn) {
                continue;
            }
            changed = true;
            LinkedHashMap<Integer, Chain> kept = new LinkedHashMap<>();
            byLen.forEach((len, c) -> {
                if (c.start >= horizon) {
                    kept.put(len, c);
                }
            });
            if (kept.isEmpty()) {
                ends.remove(tactic);
            } else {
                ends.put(tactic, kept);
            }
        }
        if (changed) {
            collect(ends, ev);
        }
    }

    static Chain extendOrdered(LinkedHashMap<String, LinkedHashMap<Integer, Chain>> ends, List<String> tactics,
                               long ts, String ref, int need, Map<String, Integer> rank) {
        List<Object[]> updates = new ArrayList<>();
        String event = eventOf(ref);
        for (String tactic : tactics) {
            int r = rank.get(tactic);
            updates.add(new Object[] {tactic, 1, new Chain(ts, List.<String[]>of(new String[] {tactic, ref}))});
            for (Map.Entry<String, LinkedHashMap<Integer, Chain>> lower : ends.entrySet()) {
                if (rank.get(lower.getKey()) >= r) {
                    continue;
                }
                for (Map.Entry<Integer, Chain> entry : lower.getValue().entrySet()) {
                    Chain chain = entry.getValue();
                    boolean sameEvent = chain.links.stream().anyMatch(l -> eventOf(l[1]).equals(event));
                    if (sameEvent) {
                        continue;
                    }
                    List<String[]> links = new ArrayList<>(chain.links);
                    links.add(new String[] {tactic, ref});
                    updates.add(new Object[] {tactic, entry.getKey() + 1, new Chain(chain.start, links)});
                }
            }
        }
        Chain best = null;
        for (Object[] update : updates) {
            String tactic = (String) update[0];
            int length = (Integer) update[1];
            Chain chain = (Chain) update[2];
            LinkedHashMap<Integer, Chain> slot = ends.computeIfAbsent(tactic, k -> new LinkedHashMap<>());
            Chain current = slot.get(length);
            if (current == null || chain.start > current.start) {
                slot.put(length, chain);
            }
            if (length >= need && (best == null || length > best.links.size()
                    || (length == best.links.size() && chain.start > best.start))) {
                best = chain;
            }
        }
        return best;
    }

    static Chain extendUnordered(LinkedHashMap<String, LinkedHashMap<Integer, Chain>> ends, List<String> tactics,
                                 long ts, String ref, int need, Map<String, Integer> rank) {
        for (String tactic : tactics) {
            LinkedHashMap<Integer, Chain> only = new LinkedHashMap<>();
            only.put(1, new Chain(ts, List.<String[]>of(new String[] {tactic, ref})));
            ends.put(tactic, only);
        }
        List<Chain> firsts = new ArrayList<>();
        for (LinkedHashMap<Integer, Chain> byLen : ends.values()) {
            firsts.add(byLen.get(1));
        }
        firsts.sort((a, b) -> a.start != b.start ? Long.compare(a.start, b.start)
                : Integer.compare(rank.get(a.links.get(0)[0]), rank.get(b.links.get(0)[0])));
        List<Chain> chain = new ArrayList<>();
        Set<String> events = new HashSet<>();
        for (int i = firsts.size() - 1; i >= 0; i--) {
            Chain first = firsts.get(i);
            if (events.add(eventOf(first.links.get(0)[1]))) {
                chain.add(first);
            }
        }
        if (chain.size() < need) {
            return null;
        }
        Collections.reverse(chain);
        List<String[]> links = new ArrayList<>();
        for (Chain c : chain) {
            links.add(c.links.get(0));
        }
        return new Chain(chain.get(0).start, links);
    }

    static void collect(LinkedHashMap<String, LinkedHashMap<Integer, Chain>> ends, Map<String, String> ev) {
        Set<String> used = new HashSet<>();
        for (LinkedHashMap<Integer, Chain> byLen : ends.values()) {
            for (Chain c : byLen.values()) {
                for (String[] link : c.links) {
                    used.add(link[1]);
                }
            }
        }
        ev.keySet().retainAll(used);
    }

    static LinkedHashMap<String, LinkedHashMap<Integer, Chain>> decode(String[] chains) {
        LinkedHashMap<String, LinkedHashMap<Integer, Chain>> ends = new LinkedHashMap<>();
        for (String text : chains) {
            String[] parts = text.split(US, 4);
            List<String[]> links = new ArrayList<>();
            for (String link : parts[3].split(GS)) {
                links.add(link.split(RS, 2));
            }
            ends.computeIfAbsent(parts[0], k -> new LinkedHashMap<>())
                    .put(Integer.parseInt(parts[1]), new Chain(Long.parseLong(parts[2]), links));
        }
        return ends;
    }

    static String[] encode(LinkedHashMap<String, LinkedHashMap<Integer, Chain>> ends) {
        List<String> out = new ArrayList<>();
        ends.forEach((tactic, byLen) -> byLen.forEach((len, chain) -> {
            List<String> links = new ArrayList<>();
            for (String[] link : chain.links) {
                links.add(link[0] + RS + link[1]);
            }
            out.add(tactic + US + len + US + chain.start + US + String.join(GS, links));
        }));
        return out.toArray(new String[0]);
    }
}
