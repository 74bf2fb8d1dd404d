/**
 * ELIZA, after Joseph Weizenbaum's 1966 program (CACM 9(1)), running the DOCTOR script.
 *
 * How a reply is made:
 * 1. The input is lower-cased, split into words and clauses (at `. , ; : ! ?` and "but"),
 *    and words are normalized by pre-substitutions (`dont` → `don't`, `i'm` → `i am`, …).
 * 2. The first clause that contains keywords is used. Its keywords are ranked (higher rank
 *    first, then left to right).
 * 3. For each keyword, its decomposition rules are tried in order. A pattern is a list of
 *    words, `*` (any number of words) and `@group` (one word of a synonym group). The parts
 *    matched by `*` and `@group` are numbered from 1.
 * 4. A matching rule answers with its next reassembly (they are used in turn, so replies are
 *    deterministic), where `(n)` is replaced by part n with pronouns reflected (I → you,
 *    my → your, am → are, …). `goto key` continues with the rules of another keyword.
 *    Rules marked `memory` do not answer: they store a reply for later.
 * 5. Without any keyword, a stored memory is used, else a content-free remark.
 *
 * Everything is pure and deterministic: no randomness, no clock.
 *
 * @since 0.1.0
 */

interface Rule {
  readonly pattern: string
  readonly reassembly: ReadonlyArray<string>
  /**
   * Remember the reply for when the user later says something without keywords
   * (only when the parts it uses have at least two words: "your job is boring", not "your job").
   */
  readonly memory?: boolean
}

interface Keyword {
  readonly rank: number
  readonly rules: ReadonlyArray<Rule>
}

/** Words replaced before matching. */
const PRE: Readonly<Record<string, string>> = {
  dont: "don't",
  cant: "can't",
  wont: "won't",
  recollect: "remember",
  dreamt: "dreamed",
  dreams: "dream",
  maybe: "perhaps",
  certainly: "yes",
  machine: "computer",
  machines: "computer",
  computers: "computer",
  were: "was",
  "you're": "you are",
  "i'm": "i am",
  same: "alike",
  identical: "alike",
  equivalent: "alike",
  how: "what",
  when: "what",
  hi: "hello",
  hey: "hello",
  apologise: "apologize",
  mum: "mom"
}

/** Synonym groups, referenced in patterns as `@name`. */
const SYNONYMS: Readonly<Record<string, ReadonlyArray<string>>> = {
  be: ["be", "am", "is", "are", "was"],
  belief: ["belief", "feel", "think", "believe", "wish"],
  cannot: ["cannot", "can't"],
  desire: ["desire", "want", "need"],
  everyone: ["everyone", "everybody", "nobody", "noone"],
  family: ["family", "mother", "mom", "father", "dad", "sister", "brother", "wife", "husband", "children", "child", "son", "daughter"],
  happy: ["happy", "elated", "glad", "better"],
  sad: ["sad", "unhappy", "depressed", "sick", "miserable"]
}

/** The DOCTOR script. */
const SCRIPT: Readonly<Record<string, Keyword>> = {
  sorry: {
    rank: 0,
    rules: [{
      pattern: "*",
      reassembly: [
        "Please don't apologize.",
        "Apologies are not necessary.",
        "I've told you that apologies are not required.",
        "It did not bother me. Please continue."
      ]
    }]
  },
  apologize: { rank: 0, rules: [{ pattern: "*", reassembly: ["goto sorry"] }] },
  remember: {
    rank: 5,
    rules: [
      {
        pattern: "* i remember *",
        reassembly: [
          "Do you often think of (2)?",
          "Does thinking of (2) bring anything else to mind?",
          "What else do you recollect?",
          "Why do you remember (2) just now?",
          "What in the present situation reminds you of (2)?",
          "What is the connection between me and (2)?"
        ]
      },
      {
        pattern: "* do you remember *",
        reassembly: [
          "Did you think I would forget (2)?",
          "Why do you think I should recall (2) now?",
          "What about (2)?",
          "goto what",
          "You mentioned (2)?"
        ]
      }
    ]
  },
  forget: {
    rank: 5,
    rules: [{
      pattern: "* i forget *",
      reassembly: [
        "Can you think of why you might forget (2)?",
        "Why can't you remember (2)?",
        "How often do you think of (2)?",
        "Does it bother you to forget that?",
        "Could it be a mental block?",
        "Are you generally forgetful?"
      ]
    }]
  },
  if: {
    rank: 3,
    rules: [{
      pattern: "* if *",
      reassembly: [
        "Do you think it's likely that (2)?",
        "Do you wish that (2)?",
        "What do you know about (2)?",
        "Really, if (2)?"
      ]
    }]
  },
  dreamed: {
    rank: 4,
    rules: [{
      pattern: "* i dreamed *",
      reassembly: [
        "Really, (2)?",
        "Have you ever fantasized (2) while you were awake?",
        "Have you ever dreamed (2) before?",
        "goto dream"
      ]
    }]
  },
  dream: {
    rank: 3,
    rules: [{
      pattern: "*",
      reassembly: [
        "What does that dream suggest to you?",
        "Do you dream often?",
        "What persons appear in your dreams?",
        "Do you believe that dreams have something to do with your problem?"
      ]
    }]
  },
  perhaps: {
    rank: 0,
    rules: [{
      pattern: "*",
      reassembly: [
        "You don't seem quite certain.",
        "Why the uncertain tone?",
        "Can't you be more positive?",
        "You aren't sure?",
        "Don't you know?"
      ]
    }]
  },
  name: {
    rank: 15,
    rules: [{
      pattern: "*",
      reassembly: ["I am not interested in names.", "I've told you before, I don't care about names. Please continue."]
    }]
  },
  hello: {
    rank: 0,
    rules: [{
      pattern: "*",
      reassembly: ["How do you do. Please state your problem.", "Hi. What seems to be your problem?"]
    }]
  },
  computer: {
    rank: 50,
    rules: [{
      pattern: "*",
      reassembly: [
        "Do computers worry you?",
        "Why do you mention computers?",
        "What do you think machines have to do with your problem?",
        "Don't you think computers can help people?",
        "What about machines worries you?",
        "What do you think about machines?"
      ]
    }]
  },
  am: {
    rank: 0,
    rules: [
      {
        pattern: "* am i *",
        reassembly: [
          "Do you believe you are (2)?",
          "Would you want to be (2)?",
          "Do you wish I would tell you you are (2)?",
          "What would it mean if you were (2)?",
          "goto what"
        ]
      },
      { pattern: "*", reassembly: ["Why do you say 'am'?", "I don't understand that."] }
    ]
  },
  are: {
    rank: 0,
    rules: [
      {
        pattern: "* are you *",
        reassembly: [
          "Why are you interested in whether I am (2) or not?",
          "Would you prefer if I weren't (2)?",
          "Perhaps I am (2) in your fantasies.",
          "Do you sometimes think I am (2)?",
          "goto what"
        ]
      },
      {
        pattern: "* are *",
        reassembly: [
          "Did you think they might not be (2)?",
          "Would you like it if they were not (2)?",
          "What if they were not (2)?",
          "Possibly they are (2)."
        ]
      }
    ]
  },
  your: {
    rank: 0,
    rules: [{
      pattern: "* your *",
      reassembly: [
        "Why are you concerned over my (2)?",
        "What about your own (2)?",
        "Are you worried about someone else's (2)?",
        "Really, my (2)?"
      ]
    }]
  },
  was: {
    rank: 2,
    rules: [
      {
        pattern: "* was i *",
        reassembly: [
          "What if you were (2)?",
          "Do you think you were (2)?",
          "Were you (2)?",
          "What would it mean if you were (2)?",
          "What does '(2)' suggest to you?",
          "goto what"
        ]
      },
      {
        pattern: "* i was *",
        reassembly: ["Were you really?", "Why do you tell me you were (2) now?", "Perhaps I already know you were (2)."]
      },
      {
        pattern: "* was you *",
        reassembly: [
          "Would you like to believe I was (2)?",
          "What suggests that I was (2)?",
          "What do you think?",
          "Perhaps I was (2).",
          "What if I had been (2)?"
        ]
      }
    ]
  },
  i: {
    rank: 0,
    rules: [
      {
        pattern: "* i @desire *",
        reassembly: [
          "What would it mean to you if you got (3)?",
          "Why do you want (3)?",
          "Suppose you got (3) soon.",
          "What if you never got (3)?",
          "What would getting (3) mean to you?",
          "What does wanting (3) have to do with this discussion?"
        ]
      },
      {
        pattern: "* i am * @sad *",
        reassembly: [
          "I am sorry to hear that you are (3).",
          "Do you think coming here will help you not to be (3)?",
          "I'm sure it's not pleasant to be (3).",
          "Can you explain what made you (3)?"
        ]
      },
      {
        pattern: "* i am * @happy *",
        reassembly: [
          "How have I helped you to be (3)?",
          "Has your treatment made you (3)?",
          "What makes you (3) just now?",
          "Can you explain why you are suddenly (3)?"
        ]
      },
      { pattern: "* i was *", reassembly: ["goto was"] },
      {
        pattern: "* i @belief i *",
        reassembly: ["Do you really think so?", "But you are not sure you (3).", "Do you really doubt you (3)?"]
      },
      {
        pattern: "* i am *",
        reassembly: [
          "Is it because you are (2) that you came to me?",
          "How long have you been (2)?",
          "Do you believe it is normal to be (2)?",
          "Do you enjoy being (2)?",
          "Do you know anyone else who is (2)?"
        ]
      },
      {
        pattern: "* i @cannot *",
        reassembly: [
          "How do you know that you can't (3)?",
          "Have you tried?",
          "Perhaps you could (3) now.",
          "Do you really want to be able to (3)?",
          "What if you could (3)?"
        ]
      },
      {
        pattern: "* i don't *",
        reassembly: ["Don't you really (2)?", "Why don't you (2)?", "Do you wish to be able to (2)?", "Does that trouble you?"]
      },
      {
        pattern: "* i feel *",
        reassembly: [
          "Tell me more about such feelings.",
          "Do you often feel (2)?",
          "Do you enjoy feeling (2)?",
          "Of what does feeling (2) remind you?"
        ]
      },
      {
        pattern: "* i * you *",
        reassembly: [
          "Perhaps in your fantasies we (2) each other.",
          "Do you wish to (2) me?",
          "You seem to need to (2) me.",
          "Do you (2) anyone else?"
        ]
      },
      {
        pattern: "*",
        reassembly: [
          "You say (1)?",
          "Can you elaborate on that?",
          "Do you say (1) for some special reason?",
          "That's quite interesting."
        ]
      }
    ]
  },
  you: {
    rank: 0,
    rules: [
      { pattern: "* you remind me of *", reassembly: ["goto alike"] },
      {
        pattern: "* you are *",
        reassembly: [
          "What makes you think I am (2)?",
          "Does it please you to believe I am (2)?",
          "Do you sometimes wish you were (2)?",
          "Perhaps you would like to be (2)."
        ]
      },
      {
        pattern: "* you * me *",
        reassembly: [
          "Why do you think I (2) you?",
          "You like to think I (2) you, don't you?",
          "What makes you think I (2) you?",
          "Really, I (2) you?",
          "Do you wish to believe I (2) you?",
          "Suppose I did (2) you. What would that mean?",
          "Does someone else believe I (2) you?"
        ]
      },
      {
        pattern: "* you *",
        reassembly: [
          "We were discussing you, not me.",
          "Oh, I (2)?",
          "You're not really talking about me, are you?",
          "What are your feelings now?"
        ]
      }
    ]
  },
  yes: {
    rank: 0,
    rules: [{ pattern: "*", reassembly: ["You seem to be quite positive.", "You are sure.", "I see.", "I understand."] }]
  },
  no: {
    rank: 0,
    rules: [{
      pattern: "*",
      reassembly: ["Are you saying no just to be negative?", "You are being a bit negative.", "Why not?", "Why 'no'?"]
    }]
  },
  my: {
    rank: 2,
    rules: [
      {
        pattern: "* my *",
        memory: true,
        reassembly: [
          "Let's discuss further why your (2).",
          "Earlier you said your (2).",
          "But your (2).",
          "Does that have anything to do with the fact that your (2)?"
        ]
      },
      {
        pattern: "* my * @family *",
        reassembly: [
          "Tell me more about your family.",
          "Who else in your family (4)?",
          "Your (3)?",
          "What else comes to mind when you think of your (3)?"
        ]
      },
      {
        pattern: "* my *",
        reassembly: [
          "Your (2)?",
          "Why do you say your (2)?",
          "Does that suggest anything else which belongs to you?",
          "Is it important to you that your (2)?"
        ]
      }
    ]
  },
  can: {
    rank: 0,
    rules: [
      {
        pattern: "* can you *",
        reassembly: [
          "You believe I can (2), don't you?",
          "goto what",
          "You want me to be able to (2).",
          "Perhaps you would like to be able to (2) yourself."
        ]
      },
      {
        pattern: "* can i *",
        reassembly: [
          "Whether or not you can (2) depends on you more than on me.",
          "Do you want to be able to (2)?",
          "Perhaps you don't want to (2).",
          "goto what"
        ]
      }
    ]
  },
  what: {
    rank: 0,
    rules: [{
      pattern: "*",
      reassembly: [
        "Why do you ask?",
        "Does that question interest you?",
        "What is it you really want to know?",
        "Are such questions much on your mind?",
        "What answer would please you most?",
        "What do you think?",
        "What comes to mind when you ask that?",
        "Have you asked such questions before?",
        "Have you asked anyone else?"
      ]
    }]
  },
  who: { rank: 0, rules: [{ pattern: "*", reassembly: ["goto what"] }] },
  where: { rank: 0, rules: [{ pattern: "*", reassembly: ["goto what"] }] },
  because: {
    rank: 0,
    rules: [{
      pattern: "*",
      reassembly: [
        "Is that the real reason?",
        "Don't any other reasons come to mind?",
        "Does that reason seem to explain anything else?",
        "What other reasons might there be?"
      ]
    }]
  },
  why: {
    rank: 0,
    rules: [
      {
        pattern: "* why don't you *",
        reassembly: [
          "Do you believe I don't (2)?",
          "Perhaps I will (2) in good time.",
          "Should you (2) yourself?",
          "You want me to (2)?",
          "goto what"
        ]
      },
      {
        pattern: "* why can't i *",
        reassembly: [
          "Do you think you should be able to (2)?",
          "Do you want to be able to (2)?",
          "Do you believe this will help you to (2)?",
          "Have you any idea why you can't (2)?",
          "goto what"
        ]
      },
      { pattern: "*", reassembly: ["goto what"] }
    ]
  },
  everyone: {
    rank: 2,
    rules: [{
      pattern: "* @everyone *",
      reassembly: [
        "Really, (2)?",
        "Surely not (2).",
        "Can you think of anyone in particular?",
        "Who, for example?",
        "Are you thinking of a very special person?",
        "Who, may I ask?",
        "Someone special perhaps?",
        "You have a particular person in mind, don't you?",
        "Who do you think you're talking about?"
      ]
    }]
  },
  everybody: { rank: 2, rules: [{ pattern: "*", reassembly: ["goto everyone"] }] },
  nobody: { rank: 2, rules: [{ pattern: "*", reassembly: ["goto everyone"] }] },
  noone: { rank: 2, rules: [{ pattern: "*", reassembly: ["goto everyone"] }] },
  always: {
    rank: 1,
    rules: [{
      pattern: "*",
      reassembly: ["Can you think of a specific example?", "When?", "What incident are you thinking of?", "Really, always?"]
    }]
  },
  alike: {
    rank: 10,
    rules: [{
      pattern: "*",
      reassembly: [
        "In what way?",
        "What resemblance do you see?",
        "What does that similarity suggest to you?",
        "What other connections do you see?",
        "What do you suppose that resemblance means?",
        "What is the connection, do you suppose?",
        "Could there really be some connection?",
        "How?"
      ]
    }]
  },
  like: { rank: 10, rules: [{ pattern: "* @be * like *", reassembly: ["goto alike"] }] },
  different: {
    rank: 0,
    rules: [{
      pattern: "*",
      reassembly: [
        "How is it different?",
        "What differences do you see?",
        "What does that difference suggest to you?",
        "What other distinctions do you see?",
        "What do you suppose that disparity means?",
        "Could there be some connection, do you suppose?",
        "How?"
      ]
    }]
  }
}

/** Content-free remarks for input without keywords (and nothing remembered). */
const NONE: ReadonlyArray<string> = [
  "I'm not sure I understand you fully.",
  "Please go on.",
  "What does that suggest to you?",
  "Do you feel strongly about discussing such things?",
  "That is interesting. Please continue.",
  "Tell me more about that."
]

const SILENCE: ReadonlyArray<string> = ["I'm listening. Please say something.", "You are quiet today. What is on your mind?"]

const FAREWELLS: ReadonlyArray<string> = [
  "Goodbye. It was nice talking to you.",
  "Goodbye. This was really a nice talk.",
  "Goodbye. I'm looking forward to our next session."
]

/** Whole inputs that end a conversation. */
const QUIT_SENTENCES: ReadonlySet<string> = new Set(["quit", "exit", "done", "stop", "that's all", "see you", "see you later", "see ya"])
/** Words that end a conversation wherever they appear. */
const QUIT_WORDS: ReadonlySet<string> = new Set(["bye", "goodbye", "farewell"])

// --- matching -------------------------------------------------------------------------

type Part =
  | { readonly kind: "any" }
  | { readonly kind: "word"; readonly word: string }
  | { readonly kind: "group"; readonly words: ReadonlySet<string> }

const compiled = new Map<string, ReadonlyArray<Part>>()

const compile = (pattern: string): ReadonlyArray<Part> => {
  let parts = compiled.get(pattern)
  if (parts === undefined) {
    parts = pattern.split(" ").filter((p) => p.length > 0).map((p): Part => {
      if (p === "*") return { kind: "any" }
      if (p.startsWith("@")) {
        const group = SYNONYMS[p.slice(1)]
        if (group === undefined) throw new Error(`unknown synonym group ${p}`)
        return { kind: "group", words: new Set(group) }
      }
      return { kind: "word", word: p }
    })
    compiled.set(pattern, parts)
  }
  return parts
}

/**
 * Matches words against a pattern; returns the parts captured by `*` and `@group`
 * (each as a list of words), or undefined. `*` matches as few words as possible.
 */
const match = (pattern: string, words: ReadonlyArray<string>): Array<ReadonlyArray<string>> | undefined => {
  const parts = compile(pattern)
  const go = (p: number, w: number): Array<ReadonlyArray<string>> | undefined => {
    const part = parts[p]
    if (part === undefined) return w === words.length ? [] : undefined
    switch (part.kind) {
      case "word":
        return words[w] === part.word ? go(p + 1, w + 1) : undefined
      case "group": {
        const word = words[w]
        if (word === undefined || !part.words.has(word)) return undefined
        const rest = go(p + 1, w + 1)
        return rest === undefined ? undefined : [[word], ...rest]
      }
      case "any":
        for (let end = w; end <= words.length; end++) {
          const rest = go(p + 1, end)
          if (rest !== undefined) return [words.slice(w, end), ...rest]
        }
        return undefined
    }
  }
  return go(0, 0)
}

// --- text handling --------------------------------------------------------------------

/** Lower-cases and splits into clauses of pre-substituted words. */
const clauses = (sentence: string): Array<Array<string>> => {
  const text = sentence
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc`]/g, "'")
    .replace(/[.,;:!?]+/g, " . ")
    .replace(/[^a-z0-9' .-]+/g, " ")
  const result: Array<Array<string>> = []
  let current: Array<string> = []
  for (const raw of text.split(/\s+/)) {
    const token = raw.replace(/^['-]+|['-]+$/g, "")
    if (raw === "." || token === "but") {
      if (current.length > 0) result.push(current)
      current = []
      continue
    }
    if (token.length === 0) continue
    current.push(...lookup(PRE, token, token).split(" "))
  }
  if (current.length > 0) result.push(current)
  return result
}

/** Words after which "you" is a subject ("I") rather than an object ("me"). */
const SUBJECT_CONTEXT: ReadonlySet<string> = new Set([
  "that", "and", "but", "or", "because", "if", "so", "then", "while", "since", "what", "think", "believe", "feel",
  "wish", "know", "say", "said", "guess", "hope", "suppose"
])

const REFLECT: Readonly<Record<string, string>> = {
  i: "you",
  me: "you",
  my: "your",
  mine: "yours",
  myself: "yourself",
  am: "are",
  your: "my",
  yours: "mine",
  yourself: "myself",
  "i've": "you've",
  "you've": "I've",
  "i'd": "you'd",
  "you'd": "I'd",
  "i'll": "you'll",
  "you'll": "I'll"
}

/** Swaps first and second person: "i am sad about my job" → "you are sad about your job". */
const reflect = (words: ReadonlyArray<string>): string =>
  words
    .map((word, i) => {
      const previous = words[i - 1]
      switch (word) {
        case "you":
          return i === 0 || (previous !== undefined && SUBJECT_CONTEXT.has(previous)) ? "I" : "me"
        case "are":
          return previous === "you" ? "am" : "are"
        case "was":
          return previous === "i" ? "were" : "was"
        default:
          return lookup(REFLECT, word, word)
      }
    })
    .join(" ")

/** A record lookup that ignores inherited properties ("constructor" is just a word). */
const lookup = (record: Readonly<Record<string, string>>, key: string, otherwise: string): string =>
  Object.hasOwn(record, key) ? record[key]! : otherwise

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

// --- the brain ------------------------------------------------------------------------

/**
 * One ELIZA conversation. Replies depend only on what was said before (reassemblies are
 * used in turn, and remembered remarks come back later), so a brain should live as long as
 * one conversation: create one per conversation with {@link makeBrain}.
 */
export class ElizaBrain {
  readonly #next = new Map<object, number>()
  readonly #memory: Array<string> = []

  /** Answers one sentence. */
  reply(sentence: string): string {
    if (this.isGoodbye(sentence)) return this.#cycle(FAREWELLS)
    const parts = clauses(sentence)
    if (parts.length === 0) return this.#cycle(SILENCE)
    for (const words of parts) {
      const keywords = rankKeywords(words)
      for (const keyword of keywords) {
        const answer = this.#apply(keyword, words, 0)
        if (answer !== undefined) return answer
      }
    }
    const remembered = this.#memory.shift()
    return remembered ?? this.#cycle(NONE)
  }

  /** A few sentences introducing ELIZA to `name`. */
  intro(name: string): ReadonlyArray<string> {
    const who = name.trim().length > 0 ? name.trim() : "there"
    return [
      `Hi ${who}, I'm Eliza.`,
      "I was written by Joseph Weizenbaum at MIT in the mid-1960s, and I play a Rogerian psychotherapist.",
      "I mostly listen, and turn what you tell me back into questions.",
      "When you are done, just say goodbye.",
      `So, ${who}, how are you feeling today?`
    ]
  }

  /** Whether the sentence ends the conversation ("bye", "goodbye", "quit", …). */
  isGoodbye(s: string): boolean {
    const parts = clauses(s)
    const whole = parts.map((words) => words.join(" ")).join(" ")
    if (QUIT_SENTENCES.has(whole)) return true
    if (parts.some((words) => words.some((w) => QUIT_WORDS.has(w)))) return true
    return /\bgood ?bye\b/.test(whole)
  }

  /**
   * Eliza's reflection on a whole monologue (for the client-streaming Reflect RPC): the
   * most telling sentence (highest-ranked keyword, earliest on ties) mirrored back, plus a reply to it.
   */
  reflect(sentences: ReadonlyArray<string>): string {
    const said = sentences.filter((s) => clauses(s).length > 0)
    if (said.length === 0) return "You didn't say anything at all. Sometimes silence says the most."
    let best = said[0]!
    let bestRank = -1
    for (const s of said) {
      const rank = Math.max(-1, ...clauses(s).flatMap((words) => rankKeywords(words).map((k) => SCRIPT[k]!.rank)))
      if (rank > bestRank) {
        best = s
        bestRank = rank
      }
    }
    const mirrored = clauses(best).map(reflect).join(", ")
    const count = said.length === 1 ? "one thing" : `${said.length} things`
    return `You told me ${count}. What stays with me is this: ${mirrored}. ${this.reply(best)}`
  }

  #apply(keyword: string, words: ReadonlyArray<string>, depth: number): string | undefined {
    const entry = SCRIPT[keyword]
    if (entry === undefined || depth > 5) return undefined
    for (const rule of entry.rules) {
      const captured = match(rule.pattern, words)
      if (captured === undefined) continue
      const template = this.#cycle(rule.reassembly, rule)
      if (template.startsWith("goto ")) return this.#apply(template.slice(5), words, depth + 1)
      const answer = assemble(template, captured, rule.memory === true ? 2 : 1)
      if (answer === undefined) continue
      if (rule.memory === true) {
        if (!this.#memory.includes(answer)) this.#memory.push(answer)
        continue
      }
      return answer
    }
    return undefined
  }

  #cycle(options: ReadonlyArray<string>, key: object = options): string {
    const i = this.#next.get(key) ?? 0
    this.#next.set(key, (i + 1) % options.length)
    return options[i]!
  }
}

/** The keywords of a clause, highest rank first, then left to right (each once). */
const rankKeywords = (words: ReadonlyArray<string>): Array<string> =>
  [...new Set(words.filter((w) => Object.hasOwn(SCRIPT, w)))]
    .map((word, position) => ({ word, position, rank: SCRIPT[word]!.rank }))
    .sort((a, b) => b.rank - a.rank || a.position - b.position)
    .map((k) => k.word)

/** Fills `(n)` in a reassembly with the reflected part n; undefined when a part it uses is shorter than `minWords`. */
const assemble = (template: string, captured: ReadonlyArray<ReadonlyArray<string>>, minWords: number): string | undefined => {
  let complete = true
  const text = template.replace(/\((\d+)\)/g, (_, n: string) => {
    const part = captured[Number(n) - 1] ?? []
    if (part.length < minWords) complete = false
    return reflect(part)
  })
  return complete ? capitalize(text) : undefined
}

/** Creates the brain of a new conversation. */
export const makeBrain = (): ElizaBrain => new ElizaBrain()
