import { describe, expect, it } from "vitest"
import { ElizaBrain, makeBrain } from "../src/brain.ts"

describe("ElizaBrain.reply", () => {
  it("greets", () => {
    expect(makeBrain().reply("Hello")).toBe("How do you do. Please state your problem.")
  })

  it("decomposes and reassembles with pronoun reflection", () => {
    expect(makeBrain().reply("I want a new job")).toBe("What would it mean to you if you got a new job?")
    expect(makeBrain().reply("You are afraid of me")).toBe("What makes you think I am afraid of you?")
    expect(makeBrain().reply("Why don't you help me?")).toBe("Do you believe I don't help you?")
    expect(makeBrain().reply("Well, my boyfriend made me come here.")).toBe("Your boyfriend made you come here?")
  })

  it("uses synonym groups", () => {
    expect(makeBrain().reply("I am unhappy.")).toBe("I am sorry to hear that you are unhappy.")
    expect(makeBrain().reply("I think I am very depressed")).toBe("I am sorry to hear that you are depressed.")
    expect(makeBrain().reply("My mother hates me")).toBe("Tell me more about your family.")
  })

  it("prefers the highest-ranked keyword", () => {
    // "computer" (50) outranks "remember" (5), "i" and "my".
    expect(makeBrain().reply("I remember my first computer")).toBe("Do computers worry you?")
    // "alike" (10) outranks "are".
    expect(makeBrain().reply("Men are all alike")).toBe("In what way?")
  })

  it("uses the first clause that has a keyword", () => {
    expect(makeBrain().reply("It's raining. I need a holiday")).toBe("What would it mean to you if you got a holiday?")
    expect(makeBrain().reply("The weather is nice, but I am sad")).toBe("I am sorry to hear that you are sad.")
  })

  it("follows goto", () => {
    expect(makeBrain().reply("Who is there?")).toBe("Why do you ask?")
    expect(makeBrain().reply("You remind me of someone")).toBe("In what way?")
  })

  it("cycles through the reassemblies deterministically", () => {
    const brain = makeBrain()
    const replies = Array.from({ length: 5 }, () => brain.reply("I am tired"))
    expect(replies).toEqual([
      "Is it because you are tired that you came to me?",
      "How long have you been tired?",
      "Do you believe it is normal to be tired?",
      "Do you enjoy being tired?",
      "Do you know anyone else who is tired?"
    ])
    expect(brain.reply("I am tired")).toBe(replies[0])
    const again = makeBrain()
    expect(Array.from({ length: 5 }, () => again.reply("I am tired"))).toEqual(replies)
  })

  it("remembers what was said about 'my' and brings it up later", () => {
    const brain = makeBrain()
    expect(brain.reply("My job is boring")).toBe("Your job is boring?")
    expect(brain.reply("asdf")).toBe("Let's discuss further why your job is boring.")
    expect(brain.reply("asdf")).toBe("I'm not sure I understand you fully.")
    expect(brain.reply("qwerty")).toBe("Please go on.")
  })

  it("copes with empty input and odd words", () => {
    const brain = makeBrain()
    expect(brain.reply("")).toBe("I'm listening. Please say something.")
    expect(brain.reply("  ...  ")).toBe("You are quiet today. What is on your mind?")
    expect(brain.reply("constructor toString __proto__")).toBe("I'm not sure I understand you fully.")
  })

  it("says goodbye", () => {
    const brain = makeBrain()
    expect(brain.reply("Goodbye!")).toBe("Goodbye. It was nice talking to you.")
    expect(brain.reply("bye")).toBe("Goodbye. This was really a nice talk.")
  })
})

describe("ElizaBrain.isGoodbye", () => {
  const brain = new ElizaBrain()
  it.each(["bye", "Goodbye!", "good bye", "OK, bye then", "Farewell, doctor", "quit", "Exit", "See you later."])(
    "%s ends the conversation",
    (s) => expect(brain.isGoodbye(s)).toBe(true)
  )
  it.each(["hello", "the exit is closed", "I quit my job", "byebye land", ""])("%s does not", (s) => {
    expect(brain.isGoodbye(s)).toBe(false)
  })
})

describe("ElizaBrain.intro", () => {
  it("introduces Eliza by name", () => {
    const intro = makeBrain().intro("Ada")
    expect(intro.length).toBeGreaterThanOrEqual(3)
    expect(intro[0]).toBe("Hi Ada, I'm Eliza.")
    expect(intro.at(-1)).toBe("So, Ada, how are you feeling today?")
  })

  it("copes with an empty name", () => {
    expect(makeBrain().intro("  ")[0]).toBe("Hi there, I'm Eliza.")
  })
})

describe("ElizaBrain.reflect", () => {
  it("mirrors the most telling sentence and replies to it", () => {
    expect(makeBrain().reflect(["hello there", "I am sad about my job", "the weather"])).toBe(
      "You told me 3 things. What stays with me is this: you are sad about your job. Your job?"
    )
  })

  it("handles silence", () => {
    expect(makeBrain().reflect([])).toBe("You didn't say anything at all. Sometimes silence says the most.")
    expect(makeBrain().reflect(["", "  "])).toBe("You didn't say anything at all. Sometimes silence says the most.")
  })
})
