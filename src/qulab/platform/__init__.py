"""InnovateAI's AI-R platform on QuLab's core: models and migrations, schemas, events, services,
read-side views, the AI-R formula and the score-summary projection. It knows nothing of the lab.
"""
